import { withClockHint } from '../core/clock-sync.js';
import { redactText } from '../core/redact.js';
import type { OnceResult } from '../supervisor/runner.js';

interface Line {
  /** The ffmpeg component that logged it (`tls`, `rtmps`, `srt`…), if it said. */
  from: string | undefined;
  text: string;
}

/** `[rtmps @ 0x55d3…] Cannot open connection …` → from `rtmps`, text `Cannot open connection …`. */
function parse(line: string): Line {
  const m = /^\[([\w.-]+) @ 0x[0-9a-f]+\]\s*(.*)$/.exec(line.trim());
  return m ? { from: m[1], text: m[2]!.trim() } : { from: undefined, text: line.trim() };
}

/**
 * A line saying the TLS layer refused the server: "Peer certificate failed verification", "The
 * certificate's owner does not match hostname …", a handshake alert (tls_gnutls.c). Not the TLS
 * layer's plain "IO error" when the peer hangs up.
 */
function isTlsRefusal(l: Line): boolean {
  return /certificate/i.test(l.text) || (l.from === 'tls' && !/^IO error/i.test(l.text));
}

/**
 * Why an ffmpeg that opened a URL ended, for replies, events and logs: its last words, redacted
 * (ffmpeg quotes the URL it failed on, stream key and credentials included), with a TLS refusal
 * named as such — ffmpeg reports it a few lines before its generic "Input/output error".
 */
export function ffmpegFailure(res: Pick<OnceResult, 'stderr' | 'code' | 'signal'>): string {
  const lines = res.stderr.map(parse).filter((l) => l.text);
  const show = (l: Line): string => (l.from ? `${l.from}: ${l.text}` : l.text);
  const tls = lines.find(isTlsRefusal);
  const last = lines.slice(-2).map(show).join(' / ');
  // Hint first: the 500-character cut below must not drop the reason an owner can act on.
  const text = tls ? `${withClockHint(`TLS: the server was not accepted (${tls.text})`)}; ${last}` : last;
  if (text) return redactText(text).slice(0, 500);
  return res.signal ? `killed by ${res.signal}` : `exited with code ${res.code}`;
}
