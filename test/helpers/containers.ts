/**
 * The testcontainers path of the integration harness: when engines are missing and a Docker engine
 * answers, bring up the project's own docker-compose.yml (the same file users run, so there is one
 * definition of the stack), wait for every healthcheck, and register the Debezium connector.
 * Not reachable on machines without Docker (the native stack is used there instead).
 */
import { execFileSync } from 'node:child_process';
import { DockerComposeEnvironment, Wait, getContainerRuntimeClient } from 'testcontainers';

export async function dockerAvailable(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** Starts the compose stack; returns a function that stops it again. */
export async function startComposeStack(projectRoot: string): Promise<() => Promise<void>> {
  console.log('[integration] starting docker-compose.yml with testcontainers (this takes a few minutes)');
  const environment = await new DockerComposeEnvironment(projectRoot, 'docker-compose.yml')
    .withDefaultWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(600_000)
    .up();
  execFileSync('node', ['scripts/register-connector.mjs', '--connect', 'http://127.0.0.1:8083', '--wait-seconds', '180'], {
    cwd: projectRoot,
    stdio: 'inherit',
  });
  return async () => {
    await environment.down();
  };
}
