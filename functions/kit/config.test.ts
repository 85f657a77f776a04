import { describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { configOf, decimal, InvalidConfiguration, list, oneOf, wholeNumber } from "./config.ts";

const schema = z.object({
  WINDOW_SECONDS: wholeNumber(60, { min: 1 }),
  THRESHOLD: decimal(0.5, { above: 0, max: 1 }),
  CONTENT_TYPE: oneOf(["application/json", "text/csv"], "application/json"),
  SITES: list(),
});

describe("configOf", () => {
  it("takes each variable's default when it is unset, empty or blank", () => {
    expect(configOf("AnomalyAlert", schema, { WINDOW_SECONDS: "", THRESHOLD: "  " })).toEqual({
      WINDOW_SECONDS: 60,
      THRESHOLD: 0.5,
      CONTENT_TYPE: "application/json",
      SITES: null,
    });
  });

  it("reads the values that fit", () => {
    const env = { WINDOW_SECONDS: "300", THRESHOLD: "1", CONTENT_TYPE: "text/csv", SITES: " shop-a, ,shop-b " };

    expect(configOf("AnomalyAlert", schema, env)).toEqual({
      WINDOW_SECONDS: 300,
      THRESHOLD: 1,
      CONTENT_TYPE: "text/csv",
      SITES: ["shop-a", "shop-b"],
    });
    expect(configOf("AnomalyAlert", schema, { SITES: " , " }).SITES).toBeNull();
  });

  it("refuses what does not fit, naming the function, each variable, its value and what was expected", () => {
    const env = { WINDOW_SECONDS: "1.5", THRESHOLD: "0", CONTENT_TYPE: "text/xml", OTHER: "ignored" };

    expect(() => configOf("AnomalyAlert", schema, env)).toThrow(
      new InvalidConfiguration(
        'AnomalyAlert configuration: WINDOW_SECONDS="1.5": expected a whole number >= 1 (unset: 60); ' +
          'THRESHOLD="0": expected a number > 0 and <= 1 (unset: 0.5); ' +
          'CONTENT_TYPE="text/xml": expected one of application/json, text/csv (unset: application/json)',
      ),
    );
  });

  it.each(["abc", "-1", "1e400", "ten"])("refuses WINDOW_SECONDS=%s", (value) => {
    expect(() => configOf("DemandHydration", schema, { WINDOW_SECONDS: value })).toThrow(
      /^DemandHydration configuration: WINDOW_SECONDS=/,
    );
  });
});
