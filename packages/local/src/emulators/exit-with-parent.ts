/**
 * Preloaded (`--import`) into every model container the SageMaker runtime forks: the container exits as soon as its
 * IPC channel to the local cloud closes, that is when the local cloud is gone, however it ended (SIGKILL included),
 * as the function workers do. The container's own code (the same file SageMaker runs) knows nothing of it.
 */
process.on("disconnect", () => process.exit(0));
