/**
 * `@sluice/files`: the file pipelines' domain, pure (no AWS SDK). Routing rules and key templates, the move
 * decision, multipart copy planning and verify-before-delete for the FileMover; delete request validation, batching
 * and continuation for the FileDeleter; and the ports `packages/aws` implements. (S3 event keys and the audit
 * port are contracts: `@sluice/messages`.)
 */
export * from "./delete-flow.ts";
export * from "./delete-request.ts";
export * from "./deletion.ts";
export * from "./errors.ts";
export * from "./keys.ts";
export * from "./move.ts";
export * from "./multipart.ts";
export * from "./ports.ts";
export * from "./routing.ts";
export * from "./rules.ts";
export * from "./verify.ts";
