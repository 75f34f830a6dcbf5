// Profiling aids for the benchmarks.
//
// CommandCounter: every Redis command sent by any ioredis client in this process (runwright's store, BullMQ's
// queue and worker connections), by name; Lua scripts by the name they were defined under (EVALSHA → sha → name),
// and round trips (a pipeline or MULTI sent in one write counts once).
import { Redis } from 'ioredis';

type SendCommand = (this: any, command: any, stream?: any, node?: any) => unknown;

export class CommandCounter {
  private counts = new Map<string, number>();
  private trips = 0;
  private seenStreams = new WeakSet<object>();
  private original?: SendCommand;

  start(): void {
    this.counts.clear();
    this.trips = 0;
    if (this.original) return;
    const proto = Redis.prototype as unknown as { sendCommand: SendCommand };
    const original = proto.sendCommand;
    this.original = original;
    const self = this;
    proto.sendCommand = function (this: any, command: any, stream?: any, node?: any) {
      let name = String(command?.name ?? '?').toLowerCase();
      if (name === 'evalsha' || name === 'eval') name = `lua:${scriptName(this, String(command.args?.[0] ?? ''))}`;
      self.counts.set(name, (self.counts.get(name) ?? 0) + 1);
      if (stream && typeof stream === 'object' && stream.isPipeline) {
        if (!self.seenStreams.has(stream)) {
          self.seenStreams.add(stream);
          self.trips++;
        }
      } else if (name !== 'multi' && name !== 'exec') self.trips++;
      return original.call(this, command, stream, node);
    };
  }

  /** Stop counting; the counts divided by `per` (steps or jobs), plus `roundTrips` and `commands`. */
  stop(per: number): Record<string, number> {
    if (this.original) (Redis.prototype as unknown as { sendCommand: SendCommand }).sendCommand = this.original;
    this.original = undefined;
    const out: Record<string, number> = {};
    let total = 0;
    for (const [k, v] of [...this.counts].sort((a, b) => b[1] - a[1])) {
      out[k] = round(v / per);
      total += v;
    }
    return { commands: round(total / per), roundTrips: round(this.trips / per), ...out };
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

const shaNames = new Map<string, string>();
function scriptName(client: any, shaOrLua: string): string {
  const hit = shaNames.get(shaOrLua);
  if (hit) return hit;
  const set = client?.scriptsSet as Record<string, { sha?: string }> | undefined;
  if (set) for (const [name, s] of Object.entries(set)) if (s?.sha) shaNames.set(s.sha, name);
  return shaNames.get(shaOrLua) ?? (shaOrLua.length === 40 ? shaOrLua.slice(0, 8) : 'inline');
}
