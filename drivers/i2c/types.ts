/** An I2C bus as the parts need it: SMBus-style register access plus raw byte transfers. */
export interface I2cBus {
  readonly name: string;
  writeByte(address: number, register: number, value: number): Promise<void>;
  writeBlock(address: number, register: number, bytes: Uint8Array): Promise<void>;
  readByte(address: number, register: number): Promise<number>;
  readBlock(address: number, register: number, length: number): Promise<Uint8Array>;
  /** Raw write without a register (e.g. a BH1750 opcode). */
  sendBytes(address: number, bytes: Uint8Array): Promise<void>;
  /** Raw read without a register. */
  receiveBytes(address: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}
