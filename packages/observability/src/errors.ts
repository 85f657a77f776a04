/**
 * Thrown at start-up (module load) when the observability configuration in the environment cannot be used:
 * better a function that fails to start, loudly, than one that leaks what it should redact.
 */
export class InvalidObservabilityConfig extends Error {
  override name = "InvalidObservabilityConfig";
}
