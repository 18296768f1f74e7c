// The agent's one telemetry recorder (upstream's module-level add_event): the daemon points it at <Lib.Dir>/events
// once; the code that finishes an operation (provisioning, an extension command, the heartbeat) calls addEvent. Before
// it is pointed anywhere (commands that queue no telemetry, unit tests) addEvent does nothing. What the goal state tells
// about the VM (container id, tenant, role, role instance) is kept here for the events and the sender.
import type { AgentEventInput } from './event.ts';
import { agentEvent } from './event.ts';
import { saveEvent } from './queue.ts';

export interface VmIdentity {
  containerId: string;
  tenantName?: string;
  roleName?: string;
  roleInstanceName?: string;
}

class TelemetryRecorder {
  #dir: string | null = null;
  #vm: VmIdentity = { containerId: '' };

  /** Events are queued in `dir` from now on; null stops queuing. */
  start(dir: string | null): void {
    this.#dir = dir;
  }

  get dir(): string | null {
    return this.#dir;
  }

  setVm(vm: VmIdentity): void {
    this.#vm = { ...vm };
  }

  get vm(): VmIdentity {
    return this.#vm;
  }

  /** Queues one event; returns its file, or null when not recording or the write failed (logged). */
  addEvent(input: AgentEventInput, taskName?: string): string | null {
    if (!this.#dir) return null;
    return saveEvent(this.#dir, agentEvent(input, { containerId: this.#vm.containerId, taskName }));
  }
}

export const telemetry = new TelemetryRecorder();
