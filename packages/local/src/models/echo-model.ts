/**
 * A trivial model container following the SageMaker inference container contract (`GET /ping`,
 * `POST /invocations`, port from `SAGEMAKER_BIND_TO_PORT`, 8080 by default). It answers each request with its
 * own body and content type, which is enough to prove the local SageMaker runtime route end to end.
 */
import http from "node:http";

const MODEL_VERSION = "echo-1";

export function createEchoModelServer(): http.Server {
  return http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/ping") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (req.method === "POST" && req.url === "/invocations") {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        res
          .writeHead(200, {
            "content-type": req.headers["content-type"] ?? "application/octet-stream",
            "x-model-version": MODEL_VERSION,
          })
          .end(Buffer.concat(chunks));
      });
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.SAGEMAKER_BIND_TO_PORT ?? 8080);
  createEchoModelServer().listen(port, "127.0.0.1", () => {
    process.send?.({ type: "listening", port });
  });
}
