/**
 * A byte pipe to a UART (RS-485 for the PTZ motors). Writes are serialised by the caller: an
 * overlapping write is refused, as node-serialport's mock does, which keeps callers honest.
 */
export interface SerialLink {
  readonly name: string;
  write(bytes: Uint8Array): Promise<void>;
  /** Every chunk of received bytes, in order; returns an unsubscribe function. */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  close(): Promise<void>;
}
