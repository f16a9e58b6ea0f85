// Audible alarm signals, synthesised with the Web Audio API. The patterns are not the page's:
// the service sends its annunciation table in the live snapshot (`annunciation_table`, defined
// once in service/alarms/annunciation.py after IEC 60601-1-8, reference §2; the bedside unit's
// own annunciator plays the same table) and this module plays exactly that: each pulse's onset
// and length, the fundamental and its harmonics, the rise and fall, the repetition period.
// What to sound is not decided here either: the page passes the priority the service says is
// audible (main.js), or its own "connection lost" alarm. No audio files: nothing to fetch.
//
// Tests cannot hear, so every burst is also published on window.__vigilSound.

/**
 * The MEDIUM row of the service's table, for the page's own "connection lost" alarm before the
 * first snapshot has brought the table (a tablet that never reached the unit still sounds).
 * tests/web/test_sound.py checks that it equals the service's MEDIUM row.
 */
export const FALLBACK_MEDIUM = {
  pulses: [[0.0, 0.2], [0.4, 0.2], [0.8, 0.2]],
  fundamental_hz: 523.0,
  harmonics: [1.0, 0.7, 0.5, 0.4, 0.3],
  rise_fall: 0.15,
  burst_interval_s: 9.0,
  period_s: 10.0,
};

const LEVEL = 0.35; // peak gain of one pulse; the tablet's volume does the rest

/** The pulse waveform: the fundamental and its harmonics (sine terms of a PeriodicWave). */
function harmonicWave(ctx, harmonics) {
  const imag = new Float32Array([0, ...harmonics]);
  return ctx.createPeriodicWave(new Float32Array(imag.length), imag);
}

/** Seconds from a burst's start to the end of its last pulse. */
function burstLength(pattern) {
  const [onset, length] = pattern.pulses[pattern.pulses.length - 1];
  return onset + length;
}

/** Schedule one burst of `pattern` (a row of the table) from time `t0` into `destination`;
 * returns the oscillators. */
function schedulePattern(ctx, destination, pattern, t0) {
  const wave = harmonicWave(ctx, pattern.harmonics);
  const nodes = [];
  for (const [onset, length] of pattern.pulses) {
    const start = t0 + onset;
    const end = start + length;
    const ramp = Math.max(length * pattern.rise_fall, 0.001); // soft edges, no clicks
    const osc = ctx.createOscillator();
    osc.setPeriodicWave(wave);
    osc.frequency.value = pattern.fundamental_hz;
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(LEVEL, start + ramp);
    gain.gain.setValueAtTime(LEVEL, end - ramp);
    gain.gain.linearRampToValueAtTime(0, end);
    osc.connect(gain).connect(destination);
    osc.start(start);
    osc.stop(end + 0.01);
    nodes.push(osc);
  }
  return nodes;
}

/**
 * Render one burst of `pattern` (a row of the table) offline (no audio device needed): the
 * samples the tablet would play. Used by the browser tests to check pulses and harmonics.
 */
export async function renderBurst(pattern, sampleRate = 44100) {
  const seconds = burstLength(pattern) + 0.1;
  const ctx = new OfflineAudioContext(1, Math.ceil(seconds * sampleRate), sampleRate);
  schedulePattern(ctx, ctx.destination, pattern, 0);
  const buffer = await ctx.startRendering();
  return buffer.getChannelData(0);
}

export class Annunciator {
  constructor() {
    this.ctx = null;
    this.master = null;
    this.table = null; // the service's annunciation table, from the last snapshot
    this.current = null; // {priority, reason} of what is sounding now
    this.lastBurstAt = 0;
    this.announced = new Set(); // alarms of a once-only pattern (LOW) already sounded
    this.nodes = [];
    this.onChange = () => {};
    this.bursts = 0;
    window.__vigilSound = {
      priority: null, pattern: null, pulses: 0, playedAt: null, reason: null,
      audible: false, bursts: 0, sounding: null,
    };
    try {
      this.ctx = new AudioContext({ latencyHint: "interactive" });
      this.master = this.ctx.createGain();
      this.master.gain.value = 1;
      this.master.connect(this.ctx.destination);
      // The browser may start the context suspended (autoplay policy) or suspend it later.
      this.ctx.addEventListener("statechange", () => this.onChange());
    } catch {
      this.ctx = null; // no Web Audio: the indicator says so
    }
  }

  /** "on", "blocked" (autoplay policy: needs one tap) or "unsupported". */
  get status() {
    if (!this.ctx) return "unsupported";
    return this.ctx.state === "running" ? "on" : "blocked";
  }

  /** The service's table (snapshot `annunciation_table`); kept across reconnections. */
  setTable(table) {
    if (table && typeof table === "object") this.table = table;
  }

  /** The row to play for `priority`: the service's; before any snapshot, the MEDIUM fallback
   * (only the page's own "connection lost" alarm can sound then). */
  patternFor(priority) {
    return (this.table && this.table[priority]) || FALLBACK_MEDIUM;
  }

  /** Must run inside a user gesture (a tap): the only way past the browser's autoplay block. */
  async enable() {
    if (!this.ctx) return;
    try {
      await this.ctx.resume();
    } catch {
      /* still blocked: the indicator keeps saying so */
    }
    this.onChange();
  }

  /**
   * Called on every tick and after every change with `{priority, ids, reason}`: what the
   * service says is audible now (or the local "connection lost" alarm). Starts a burst when the
   * priority changes, repeats it every `period_s` of its row, sounds a once-only row (no
   * period: LOW) once per new alarm, and stops at once when nothing is due.
   */
  update(decision, nowMs = Date.now()) {
    const { priority, reason } = decision;
    window.__vigilSound.sounding = priority;
    if (!priority) {
      if (this.current) this.silence();
      this.current = null;
      this.announced.clear();
      return;
    }
    const pattern = this.patternFor(priority);
    const periodS = pattern.period_s;
    const changed =
      !this.current || this.current.priority !== priority || this.current.reason !== reason;
    let due = changed;
    if (!due && periodS) due = nowMs - this.lastBurstAt >= periodS * 1000;
    if (!periodS) {
      const ids = decision.ids || [];
      const fresh = ids.some((id) => !this.announced.has(id));
      this.announced = new Set(ids);
      due = due || fresh;
    }
    if (!due) return;
    if (changed) this.silence(); // a new priority replaces the old pattern at once
    this.current = { priority, reason };
    this.lastBurstAt = nowMs;
    this.burst(priority, pattern, reason, nowMs);
  }

  burst(priority, pattern, reason, nowMs) {
    const audible = this.status === "on";
    this.bursts += 1;
    window.__vigilSound = {
      priority,
      pattern, // the table row played
      pulses: pattern.pulses.length,
      playedAt: nowMs,
      reason,
      audible,
      bursts: this.bursts,
      sounding: priority,
    };
    // A suspended context would queue the pulses and play them all at once when enabled.
    if (!audible) return;
    const nodes = schedulePattern(this.ctx, this.master, pattern, this.ctx.currentTime + 0.02);
    for (const osc of nodes) {
      osc.addEventListener("ended", () => {
        this.nodes = this.nodes.filter((n) => n !== osc);
      });
    }
    this.nodes.push(...nodes);
  }

  /** Stop pulses already scheduled (an acknowledged alarm must go quiet now, not in 3 s). */
  silence() {
    for (const osc of this.nodes) {
      try {
        osc.stop();
      } catch {
        /* not started yet or already stopped */
      }
    }
    this.nodes = [];
  }
}
