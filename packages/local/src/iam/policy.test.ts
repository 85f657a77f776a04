/**
 * The evaluator against IAM's documented rules (IAM User Guide: "Policy evaluation logic", "IAM JSON policy
 * elements: Action, NotAction, Resource, NotResource", "Amazon Resource Names: wildcards").
 */
import { describe, expect, it } from "vitest";
import {
  assertEvaluable,
  evaluate,
  glob,
  type PolicyDocument,
  type PolicyStatement,
  resourceMatches,
} from "./policy.ts";

const policy = (...Statement: PolicyStatement[]): PolicyDocument => ({ Version: "2012-10-17", Statement });
const allowed = (doc: PolicyDocument, action: string, resource: string) => evaluate(doc, { action, resource }).allowed;

describe("evaluate", () => {
  const bucket = "arn:aws:s3:::inbox";
  const objects = `${bucket}/*`;

  it("denies by default: an empty policy allows nothing", () => {
    expect(evaluate(policy(), { action: "s3:GetObject", resource: `${bucket}/a` })).toEqual({
      allowed: false,
      reason: "implicit-deny",
    });
  });

  it("allows what an Allow statement names, and only that", () => {
    const doc = policy({ Effect: "Allow", Action: ["s3:GetObject"], Resource: [objects] });
    expect(allowed(doc, "s3:GetObject", `${bucket}/a/b.csv`)).toBe(true);
    expect(allowed(doc, "s3:PutObject", `${bucket}/a/b.csv`)).toBe(false);
    expect(allowed(doc, "s3:GetObject", "arn:aws:s3:::lake/a")).toBe(false);
    // The bucket itself is not one of its objects.
    expect(allowed(doc, "s3:GetObject", bucket)).toBe(false);
  });

  it("lets an explicit Deny win over any Allow, whatever the order", () => {
    const deny: PolicyStatement = { Effect: "Deny", Action: "s3:DeleteObject", Resource: `${bucket}/keep/*` };
    const allow: PolicyStatement = { Effect: "Allow", Action: "s3:*", Resource: "*" };
    for (const doc of [policy(allow, deny), policy(deny, allow)]) {
      expect(evaluate(doc, { action: "s3:DeleteObject", resource: `${bucket}/keep/x` })).toMatchObject({
        allowed: false,
        reason: "explicit-deny",
      });
      expect(allowed(doc, "s3:DeleteObject", `${bucket}/other/x`)).toBe(true);
    }
  });

  it("matches actions case-insensitively, with * and ?", () => {
    const doc = policy({ Effect: "Allow", Action: ["S3:get*", "dynamodb:?etItem"], Resource: "*" });
    expect(allowed(doc, "s3:GetObject", objects)).toBe(true);
    expect(allowed(doc, "s3:GetObjectTagging", objects)).toBe(true);
    expect(allowed(doc, "s3:PutObject", objects)).toBe(false);
    expect(allowed(doc, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t")).toBe(true);
    expect(allowed(doc, "dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:1:table/t")).toBe(false);
  });

  it("matches resources case-sensitively", () => {
    const doc = policy({ Effect: "Allow", Action: "s3:GetObject", Resource: `${bucket}/Reports/*` });
    expect(allowed(doc, "s3:GetObject", `${bucket}/Reports/a`)).toBe(true);
    expect(allowed(doc, "s3:GetObject", `${bucket}/reports/a`)).toBe(false);
  });

  it("NotAction allows every action but those listed, on the statement's resources", () => {
    const doc = policy({ Effect: "Allow", NotAction: "s3:Delete*", Resource: objects });
    expect(allowed(doc, "s3:GetObject", `${bucket}/a`)).toBe(true);
    expect(allowed(doc, "s3:DeleteObject", `${bucket}/a`)).toBe(false);
    expect(allowed(doc, "s3:GetObject", "arn:aws:s3:::lake/a")).toBe(false);
  });

  it("NotResource applies to every resource but those listed", () => {
    const doc = policy(
      { Effect: "Allow", Action: "sns:Publish", Resource: "*" },
      { Effect: "Deny", Action: "sns:Publish", NotResource: "arn:aws:sns:us-east-1:1:Audit" },
    );
    expect(allowed(doc, "sns:Publish", "arn:aws:sns:us-east-1:1:Audit")).toBe(true);
    expect(allowed(doc, "sns:Publish", "arn:aws:sns:us-east-1:1:Alerts")).toBe(false);
  });

  it("reports the deciding statement", () => {
    const doc = policy(
      { Effect: "Allow", Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:1:q" },
      { Effect: "Allow", Action: "sqs:*", Resource: "*" },
    );
    expect(evaluate(doc, { action: "sqs:SendMessage", resource: "arn:aws:sqs:us-east-1:1:q" })).toEqual({
      allowed: true,
      statement: 0,
    });
  });
});

describe("resourceMatches", () => {
  it.each([
    ["*", "arn:aws:s3:::b/k", true],
    ["arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", true],
    ["arn:aws:s3:::b/*", "arn:aws:s3:::b", false],
    ["arn:aws:s3:::b", "arn:aws:s3:::b/k", false],
    ["arn:aws:s3:::b?", "arn:aws:s3:::b1", true],
    ["arn:aws:dynamodb:us-east-1:1:table/t/index/*", "arn:aws:dynamodb:us-east-1:1:table/t/index/byDate", true],
    ["arn:aws:dynamodb:us-east-1:1:table/t", "arn:aws:dynamodb:us-east-1:1:table/t/index/byDate", false],
    ["arn:aws:dynamodb:*:1:table/t", "arn:aws:dynamodb:eu-west-1:1:table/t", true],
    // A * inside a segment does not cross the colons between segments...
    ["arn:aws:sns:us-*:1:Audit", "arn:aws:sns:us-east-1:1:Audit", true],
    ["arn:aws:sns:us-*1:Audit", "arn:aws:sns:us-east-1:1:Audit", false],
    // ...but a * that ends one expands beyond them.
    ["arn:aws:sns:*", "arn:aws:sns:us-east-1:1:Audit", true],
    ["arn:aws:sqs:us-east-1:1:q", "arn:aws:sqs:us-east-1:2:q", false],
  ])("%s against %s: %s", (pattern, arn, expected) => {
    expect(resourceMatches(pattern, arn)).toBe(expected);
  });
});

describe("glob", () => {
  it.each([
    ["", "", true],
    ["*", "", true],
    ["a*c", "abbbc", true],
    ["a*c", "abbbd", false],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["*a*b*", "xxaxxbxx", true],
    ["a.c", "abc", false],
  ])("%s ~ %s: %s", (pattern, value, expected) => {
    expect(glob(pattern, value)).toBe(expected);
  });
});

describe("assertEvaluable", () => {
  it.each([
    [
      {
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: "*",
        Condition: { Bool: { "aws:SecureTransport": "true" } },
      },
      /Condition/,
    ],
    [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*", Principal: "*" }, /Principal/],
    [{ Effect: "Allow", Resource: "*" }, /Action and NotAction/],
    [{ Effect: "Allow", Action: "s3:GetObject" }, /Resource and NotResource/],
    [
      { Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::b/$${"{"}aws:username}/*` },
      /policy variables/,
    ],
    [{ Effect: "Maybe", Action: "s3:GetObject", Resource: "*" }, /Effect/],
  ])("refuses what it would not evaluate as IAM does: %j", (statement, message) => {
    expect(() => assertEvaluable(policy(statement as PolicyStatement), "F")).toThrow(message);
  });
});
