import { HardwareError, hex } from '../errors.js';
import type { Timeline } from '../timeline.js';
import type { I2cBus } from './types.js';

/**
 * A device on the simulated bus, modelled at the level of I2C transactions so the same model
 * answers SMBus register access and raw transfers exactly as the part would: a register write
 * is one write transaction [register, data…]; a register read is a write of [register] then a
 * read from the device's pointer.
 */
export interface I2cDeviceModel {
  /** One write transaction: the bytes after the address byte. */
  write(bytes: Uint8Array): void;
  /** One read transaction of `length` bytes. */
  read(length: number): Uint8Array;
}

const SMBUS_BLOCK_MAX = 32;

/** The simulated I2C bus: device models attached by address; every transfer goes on the timeline. */
export class SimI2cBus implements I2cBus {
  private readonly devices = new Map<number, I2cDeviceModel>();
  private closed = false;

  constructor(
    readonly name: string,
    private readonly timeline: Timeline,
  ) {}

  attach(address: number, model: I2cDeviceModel): void {
    checkAddress(address);
    if (this.devices.has(address)) throw new HardwareError('EBUSY', `I2C bus ${this.name}: address ${hex(address)} already has a device`);
    this.devices.set(address, model);
  }

  /** Takes a device off the bus (unplugged or dead): it NACKs from now on. */
  detach(address: number): void {
    this.devices.delete(address);
  }

  device(address: number): I2cDeviceModel | undefined {
    return this.devices.get(address);
  }

  async writeByte(address: number, register: number, value: number): Promise<void> {
    checkByte('register', register);
    checkByte('value', value);
    this.transfer(address, register, 'write', [value], (d) => d.write(Uint8Array.of(register, value)));
  }

  async writeBlock(address: number, register: number, bytes: Uint8Array): Promise<void> {
    checkByte('register', register);
    checkLength(bytes.length, SMBUS_BLOCK_MAX);
    this.transfer(address, register, 'write', [...bytes], (d) => d.write(Uint8Array.of(register, ...bytes)));
  }

  async readByte(address: number, register: number): Promise<number> {
    checkByte('register', register);
    const out = this.transfer(address, register, 'read', null, (d) => {
      d.write(Uint8Array.of(register));
      return d.read(1);
    });
    return out[0]!;
  }

  async readBlock(address: number, register: number, length: number): Promise<Uint8Array> {
    checkByte('register', register);
    checkLength(length, SMBUS_BLOCK_MAX);
    return this.transfer(address, register, 'read', null, (d) => {
      d.write(Uint8Array.of(register));
      return d.read(length);
    });
  }

  async sendBytes(address: number, bytes: Uint8Array): Promise<void> {
    checkLength(bytes.length, Infinity);
    this.transfer(address, null, 'write', [...bytes], (d) => d.write(bytes.slice()));
  }

  async receiveBytes(address: number, length: number): Promise<Uint8Array> {
    checkLength(length, Infinity);
    return this.transfer(address, null, 'read', null, (d) => d.read(length));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Records one transfer; `written` is null for reads, whose bytes are what the device sent. */
  private transfer<T extends Uint8Array | void>(
    address: number,
    register: number | null,
    dir: 'write' | 'read',
    written: number[] | null,
    run: (d: I2cDeviceModel) => T,
  ): T {
    if (this.closed) throw new HardwareError('EBADF', `I2C bus ${this.name} is closed`);
    checkAddress(address);
    const device = this.devices.get(address);
    if (!device) {
      this.timeline.record({ kind: 'i2c', bus: this.name, address, register, bytes: written ?? [], dir, nack: true });
      // The kernel's i2c-dev reports a NACKed address as EREMOTEIO ("Remote I/O error").
      throw new HardwareError('EREMOTEIO', `I2C bus ${this.name}: no device acknowledged address ${hex(address)}`);
    }
    const result = run(device);
    const bytes = written ?? [...(result as Uint8Array)];
    this.timeline.record({ kind: 'i2c', bus: this.name, address, register, bytes, dir });
    return result;
  }
}

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0x7f) {
    throw new HardwareError('EINVAL', `I2C address ${address} is not a 7-bit address`);
  }
}

function checkByte(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new HardwareError('EINVAL', `I2C ${what} ${v} is not a byte`);
}

function checkLength(n: number, max: number): void {
  if (!Number.isInteger(n) || n < 1 || n > max) throw new HardwareError('EINVAL', `I2C transfer length ${n} out of range 1..${max}`);
}
