import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { errnoOf, HardwareError, hex } from '../errors.js';
import type { I2cBus } from './types.js';

/**
 * I2C through the `i2c-bus` package on /dev/i2c-N (the kernel's i2c-dev: CONFIG_I2C_CHARDEV,
 * and the daemon user in the `i2c` group). The package ships no types, so the promisified API
 * it documents is described here, limited to what this backend calls.
 */
export interface PromisifiedI2c {
  readByte(address: number, cmd: number): Promise<number>;
  writeByte(address: number, cmd: number, byte: number): Promise<void>;
  readI2cBlock(address: number, cmd: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
  writeI2cBlock(address: number, cmd: number, length: number, buffer: Buffer): Promise<{ bytesWritten: number; buffer: Buffer }>;
  i2cRead(address: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
  i2cWrite(address: number, length: number, buffer: Buffer): Promise<{ bytesWritten: number; buffer: Buffer }>;
  close(): Promise<void>;
}

interface I2cBusModule {
  openPromisified(busNumber: number, options?: { forceAccess?: boolean }): Promise<PromisifiedI2c>;
}

export class I2cDevBus implements I2cBus {
  constructor(
    readonly name: string,
    readonly number: number,
    private readonly bus: PromisifiedI2c,
  ) {}

  writeByte(address: number, register: number, value: number): Promise<void> {
    return this.run(address, () => this.bus.writeByte(address, register, value));
  }

  writeBlock(address: number, register: number, bytes: Uint8Array): Promise<void> {
    return this.run(address, async () => {
      await this.bus.writeI2cBlock(address, register, bytes.length, Buffer.from(bytes));
    });
  }

  readByte(address: number, register: number): Promise<number> {
    return this.run(address, () => this.bus.readByte(address, register));
  }

  readBlock(address: number, register: number, length: number): Promise<Uint8Array> {
    return this.run(address, async () => {
      const { bytesRead, buffer } = await this.bus.readI2cBlock(address, register, length, Buffer.alloc(length));
      return short(this.name, address, bytesRead, length, buffer);
    });
  }

  sendBytes(address: number, bytes: Uint8Array): Promise<void> {
    return this.run(address, async () => {
      await this.bus.i2cWrite(address, bytes.length, Buffer.from(bytes));
    });
  }

  receiveBytes(address: number, length: number): Promise<Uint8Array> {
    return this.run(address, async () => {
      const { bytesRead, buffer } = await this.bus.i2cRead(address, length, Buffer.alloc(length));
      return short(this.name, address, bytesRead, length, buffer);
    });
  }

  close(): Promise<void> {
    return this.bus.close();
  }

  private async run<T>(address: number, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw i2cError(this.name, this.number, address, err);
    }
  }
}

function short(bus: string, address: number, got: number, wanted: number, buffer: Buffer): Uint8Array {
  if (got !== wanted) throw new HardwareError('EIO', `I2C bus ${bus}: ${hex(address)} returned ${got} of ${wanted} bytes`);
  return new Uint8Array(buffer.subarray(0, got));
}

/** Names the bus and address, and says what the kernel's errno means on an I2C bus. */
export function i2cError(bus: string, number: number, address: number, err: unknown): HardwareError {
  if (err instanceof HardwareError) return err;
  const errno = errnoOf(err);
  const where = `I2C bus ${bus} (/dev/i2c-${number}) address ${hex(address)}`;
  // i2c-dev reports a NACK as EREMOTEIO on most adapters and ENXIO on some (e.g. i2c-rk3x).
  if (errno === 'EREMOTEIO' || errno === 'ENXIO') return new HardwareError('EREMOTEIO', `${where}: no device acknowledged`, { cause: err });
  if (errno === 'ETIMEDOUT' || errno === 'EAGAIN') return new HardwareError('EIO', `${where}: bus timeout (SDA/SCL held low?)`, { cause: err });
  if (errno === 'EBUSY') return new HardwareError('EBUSY', `${where}: claimed by a kernel driver`, { cause: err });
  // i2c-bus opens the device node per address on first use, so these surface here, not at open.
  if (errno === 'ENOENT') return new HardwareError('ENOENT', `${where}: /dev/i2c-${number} missing (bus disabled in the device tree, or i2c-dev not loaded?)`, { cause: err });
  if (errno === 'EACCES') return new HardwareError('EACCES', `${where}: permission denied on /dev/i2c-${number} (add camd to the i2c group)`, { cause: err });
  return new HardwareError('EIO', `${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * Opens /dev/i2c-N; loads the native addon only when a board asks for real I2C. i2c-bus opens
 * the node lazily, per address, on the first transfer, so the node is checked here to report a
 * missing or forbidden bus once, at open, rather than as a puzzling error on the first part.
 */
export async function openI2cDevBus(name: string, number: number): Promise<I2cDevBus> {
  const node = `/dev/i2c-${number}`;
  try {
    await access(node, constants.R_OK | constants.W_OK);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 'ENOENT') throw new HardwareError('ENOENT', `I2C bus ${name} (${node}): missing (bus disabled in the device tree, or i2c-dev not loaded?)`, { cause: err });
    throw new HardwareError('EACCES', `I2C bus ${name} (${node}): permission denied (add camd to the i2c group)`, { cause: err });
  }
  const mod = createRequire(import.meta.url)('i2c-bus') as I2cBusModule;
  return new I2cDevBus(name, number, await mod.openPromisified(number));
}
