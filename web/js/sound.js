// Audible alarm signals, synthesised with the Web Audio API after IEC 60601-1-8 (reference §2):
// HIGH 10 pulses (3+2, pause, 3+2), MEDIUM 3 pulses, LOW 2 pulses; a fundamental between
// 150 and 1000 Hz with four harmonics of similar level, so the sound stays audible and
// locatable in a noisy room. No audio files: nothing to load, nothing to fetch.
//
// Tests cannot hear, so every decision is also published on window.__vigilSound.

import { RANK } from "./state.js";

/**
 * Burst patterns. `offsets` are the pulse start times in seconds within one burst; `repeatS` is
 * the time from one burst's start to the next (null: sound once per new alarm).
 * HIGH: pulses of 150 ms every 250 ms, an extra gap after the third (3+2), 1 s between halves.
 */
export const PATTERNS = {
  high: {
    freq: 660,
    pulseS: 0.15,
    offsets: [0, 0.25, 0.5, 1.0, 1.25, 2.25, 2.5, 2.75, 3.25, 3.5],
    repeatS: 5,
  },
  medium: { freq: 520, pulseS: 0.2, offsets: [0, 0.3, 0.6], repeatS: 8 },
  low: { freq: 440, pulseS: 0.2, offsets: [0, 0.35], repeatS: null },
};

/** Relative amplitudes of harmonics 1..5 (0 to -10.5 dB: all within the 15 dB the standard asks). */
const HARMONICS = [1, 0.7, 0.5, 0.4, 0.3];
const LEVEL = 0.35; // peak gain of one pulse; the tablet's volume does the rest
const RAMP_S = 0.015; // soft edges: no clicks, and the pulse keeps its rise/fall shape

/**
 * What the alarms ask to sound now: the highest priority among shown alarms whose signal is
 * "on" and that the audio pause does not cover. The pause covers alarms of a priority up to
 * audio.paused_priority until audio.paused_until (the service's own rule, engine.audible()).
 */
export function whatToSound(alarms, audio, nowMs) {
  const until = audio && audio.paused_until ? Date.parse(audio.paused_until) : NaN;
  const paused = nowMs < until;
  const ceiling = paused && audio.paused_priority ? RANK[audio.paused_priority] || 0 : 0;
  let priority = null;
  for (const a of alarms) {
    if (a.signal !== "on" || (RANK[a.priority] || 0) <= ceiling) continue;
    if (!priority || RANK[a.priority] > RANK[priority]) priority = a.priority;
  }
  const ids = alarms
    .filter((a) => a.signal === "on" && a.priority === priority)
    .map((a) => a.id || a.key);
  return { priority, ids, reason: priority ? "alarm" : null };
}

/** The pulse waveform: the fundamental and four harmonics (sine terms of a PeriodicWave). */
function harmonicWave(ctx) {
  const imag = new Float32Array([0, ...HARMONICS]);
  return ctx.createPeriodicWave(new Float32Array(imag.length), imag);
}

/** Schedule one burst of `pattern` from time `t0` into `destination`; returns the oscillators. */
function schedulePattern(ctx, destination, wave, pattern, t0) {
  const nodes = [];
  for (const offset of pattern.offsets) {
    const start = t0 + offset;
    const end = start + pattern.pulseS;
    const osc = ctx.createOscillator();
    osc.setPeriodicWave(wave);
    osc.frequency.value = pattern.freq;
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(LEVEL, start + RAMP_S);
    gain.gain.setValueAtTime(LEVEL, end - RAMP_S);
    gain.gain.linearRampToValueAtTime(0, end);
    osc.connect(gain).connect(destination);
    osc.start(start);
    osc.stop(end + 0.01);
    nodes.push(osc);
  }
  return nodes;
}

/**
 * Render one burst offline (no audio device needed): the samples the tablet would play.
 * Used by the browser tests to check pulse counts, lengths and harmonics.
 */
export async function renderBurst(priority, sampleRate = 44100) {
  const pattern = PATTERNS[priority];
  const seconds = pattern.offsets[pattern.offsets.length - 1] + pattern.pulseS + 0.1;
  const ctx = new OfflineAudioContext(1, Math.ceil(seconds * sampleRate), sampleRate);
  schedulePattern(ctx, ctx.destination, harmonicWave(ctx), pattern, 0);
  const buffer = await ctx.startRendering();
  return buffer.getChannelData(0);
}

export class Annunciator {
  constructor() {
    this.ctx = null;
    this.master = null;
    this.wave = null;
    this.current = null; // {priority, reason} of what is sounding now
    this.lastBurstAt = 0;
    this.announced = new Set(); // LOW alarms already sounded once
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
      this.wave = harmonicWave(this.ctx);
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
   * Called on every tick and after every alarm change with the decision of whatToSound() (or
   * the local "connection lost" alarm). Starts a burst when the priority changes, repeats it at
   * the pattern's interval, sounds LOW once per new alarm, and stops at once when nothing is due.
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
    const pattern = PATTERNS[priority];
    const changed =
      !this.current || this.current.priority !== priority || this.current.reason !== reason;
    let due = changed;
    if (!due && pattern.repeatS) due = nowMs - this.lastBurstAt >= pattern.repeatS * 1000;
    if (!pattern.repeatS) {
      const ids = decision.ids || [];
      const fresh = ids.some((id) => !this.announced.has(id));
      this.announced = new Set(ids);
      due = due || fresh;
    }
    if (!due) return;
    if (changed) this.silence(); // a new priority replaces the old pattern at once
    this.current = { priority, reason };
    this.lastBurstAt = nowMs;
    this.burst(priority, reason, nowMs);
  }

  burst(priority, reason, nowMs) {
    const pattern = PATTERNS[priority];
    const audible = this.status === "on";
    this.bursts += 1;
    window.__vigilSound = {
      priority,
      pattern: priority,
      pulses: pattern.offsets.length,
      playedAt: nowMs,
      reason,
      audible,
      bursts: this.bursts,
      sounding: priority,
    };
    // A suspended context would queue the pulses and play them all at once when enabled.
    if (!audible) return;
    const nodes = schedulePattern(this.ctx, this.master, this.wave, pattern, this.ctx.currentTime + 0.02);
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
