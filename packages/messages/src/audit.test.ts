import { describe, expect, it } from "vitest";
import { AUDIT_OUTCOMES, auditFields, auditMessage } from "./audit.ts";

const message = {
  pipeline: "file-mover",
  action: "move",
  outcome: "succeeded",
  correlationId: "r-1",
  from: "s3://inbox/incoming/a.csv",
};

describe("audit message", () => {
  it.each(AUDIT_OUTCOMES)("accepts outcome %s, and keeps the pipeline's own fields", (outcome) => {
    expect(auditMessage.parse({ ...message, outcome })).toEqual({ ...message, outcome });
  });

  it("refuses an unknown outcome and a missing pipeline", () => {
    const parsed = auditMessage.safeParse({ ...message, pipeline: undefined, outcome: "done" });
    expect(parsed.error?.issues.map((i) => i.path.join("."))).toEqual(["pipeline", "outcome"]);
  });

  it("has the fields a pipeline adds to its pipeline and action", () => {
    expect(auditFields.safeParse({ outcome: "refused", reason: "corrupt", row: 3 }).success).toBe(true);
    expect(auditFields.safeParse({ reason: "no outcome" }).success).toBe(false);
  });
});
