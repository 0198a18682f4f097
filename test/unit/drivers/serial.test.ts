import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SerialPortMock } from 'serialport';
import { systemClock } from '../../../src/core/clock.js';
import { createSimSerialPair } from '../../../drivers/serial/sim.js';
import { createStreamLink } from '../../../drivers/serial/stream.js';
import { openSerialPortLink, serialOpenError, type PortLike } from '../../../drivers/serial/serialport.js';
import { queuedWrites } from '../../../drivers/serial/write-queue.js';
import { Timeline } from '../../../drivers/timeline.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('sim serial pair', () => {
  it('carries bytes both ways asynchronously and records tx/rx', async () => {
    const tl = new Timeline(systemClock);
    const { host, device } = createSimSerialPair('rs485', tl);
    const atDevice: number[] = [];
    const atHost: number[] = [];
    device.onData((c) => atDevice.push(...c));
    host.onData((c) => atHost.push(...c));
    const w = host.write(Uint8Array.of(1, 2, 3));
    expect(atDevice).toEqual([]);
    await w;
    expect(atDevice).toEqual([1, 2, 3]);
    await device.write(Uint8Array.of(9));
    expect(atHost).toEqual([9]);
    expect(tl.entries()).toMatchObject([
      { kind: 'serial', port: 'rs485', dir: 'tx', bytes: [1, 2, 3] },
      { kind: 'serial', port: 'rs485', dir: 'rx', bytes: [9] },
    ]);
  });

  it('refuses an overlapping write and a write after close', async () => {
    const { host } = createSimSerialPair('p', new Timeline(systemClock));
    const first = host.write(Uint8Array.of(1));
    await expect(host.write(Uint8Array.of(2))).rejects.toMatchObject({ code: 'EBUSY' });
    await first;
    await host.write(Uint8Array.of(3));
    await host.close();
    await expect(host.write(Uint8Array.of(4))).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('loses bytes sent to a closed far end, like an unterminated bus', async () => {
    const { host, device } = createSimSerialPair('p', new Timeline(systemClock));
    const got: number[] = [];
    device.onData((c) => got.push(...c));
    await device.close();
    await host.write(Uint8Array.of(1));
    expect(got).toEqual([]);
  });

  it('queuedWrites lets several writers share an end', async () => {
    const { host, device } = createSimSerialPair('p', new Timeline(systemClock));
    const got: number[] = [];
    host.onData((c) => got.push(...c));
    const shared = queuedWrites(device);
    await Promise.all([shared.write(Uint8Array.of(1)), shared.write(Uint8Array.of(2)), shared.write(Uint8Array.of(3))]);
    expect(got).toEqual([1, 2, 3]);
  });
});

describe('stream link', () => {
  it('wraps a pair of streams, records bytes and refuses overlapping writes', async () => {
    const rx = new PassThrough();
    const tx = new PassThrough();
    const tl = new Timeline(systemClock);
    const link = createStreamLink('pty', { readable: rx, writable: tx }, { timeline: tl });
    const got: number[] = [];
    link.onData((c) => got.push(...c));
    rx.write(Buffer.from([0xff, 0x01]));
    await tick();
    expect(got).toEqual([0xff, 0x01]);
    const sent: number[] = [];
    tx.on('data', (c: Buffer) => sent.push(...c));
    const w = link.write(Uint8Array.of(7, 8));
    await expect(link.write(Uint8Array.of(9))).rejects.toMatchObject({ code: 'EBUSY' });
    await w;
    await tick();
    expect(sent).toEqual([7, 8]);
    expect(tl.entries().map((e) => (e.kind === 'serial' ? e.dir : ''))).toEqual(['rx', 'tx']);
    await link.close();
    expect(rx.destroyed && tx.destroyed).toBe(true);
    await expect(link.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'EBADF' });
  });
});

describe('serialport backend on the official mock binding', () => {
  const binding = SerialPortMock.binding;
  const createPort = (o: { path: string; baudRate: number; autoOpen: false }) => new SerialPortMock(o) as unknown as PortLike;
  afterEach(() => binding.reset());

  it('opens the port, writes what it is given and hears what the far end sends', async () => {
    binding.createPort('/dev/ttyS3', { record: true });
    let port: SerialPortMock | undefined;
    const link = await openSerialPortLink('rs485', { path: '/dev/ttyS3', baudRate: 9600, rs485: true }, {
      createPort: (o) => {
        port = new SerialPortMock(o);
        return port;
      },
    });
    await link.write(Uint8Array.of(0xff, 0x01, 0x00, 0x51, 0x00, 0x00, 0x52));
    expect([...port!.port!.recording]).toEqual([0xff, 0x01, 0x00, 0x51, 0x00, 0x00, 0x52]);
    const got: number[] = [];
    link.onData((c) => got.push(...c));
    port!.port!.emitData(Buffer.from([0xff, 0x01, 0x00, 0x59, 0x00, 0x00, 0x5a]));
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([0xff, 0x01, 0x00, 0x59, 0x00, 0x00, 0x5a]);
    await link.close();
    expect(port!.isOpen).toBe(false);
  });

  it('names the port and path when the device is missing', async () => {
    await expect(openSerialPortLink('rs485', { path: '/dev/ttyNOPE', baudRate: 9600 }, { createPort })).rejects.toMatchObject({
      message: expect.stringMatching(/^serial port rs485 \(\/dev\/ttyNOPE\): /),
    });
    expect(serialOpenError('rs485', '/dev/ttyS3', new Error('Error: Permission denied, cannot open /dev/ttyS3')).code).toBe('EACCES');
    expect(serialOpenError('rs485', '/dev/ttyS9', new Error('Error: No such file or directory, cannot open /dev/ttyS9')).message).toBe(
      'serial port rs485 (/dev/ttyS9): no such device (is the UART enabled in the device tree?)',
    );
    expect(serialOpenError('rs485', '/dev/ttyS3', new Error('Error: Input/output error, cannot open /dev/ttyS3')).code).toBe('EIO');
    expect(serialOpenError('rs485', '/dev/ttyS3', Object.assign(new Error('x'), { code: 'EACCES' })).message).toMatch(/dialout/);
    expect(serialOpenError('rs485', '/dev/ttyS3', new Error('Error Resource temporarily unavailable Cannot lock port')).code).toBe('EBUSY');
  });
});
