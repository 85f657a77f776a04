export * from "./alert-policy.ts";
export * from "./detector.ts";
export * from "./pipeline.ts";
export * from "./windowing.ts";
