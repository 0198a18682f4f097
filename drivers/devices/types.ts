/**
 * The parts the daemon drives, one small interface each, no policy: "what to show" is decided in
 * src/, these only do what they are told. Implementations live one per file beside this one.
 */
export type LedColor = 'off' | 'red' | 'blue';

export interface StatusLed {
  set(color: LedColor): void;
  get(): LedColor;
}

export interface OnOffPart {
  set(on: boolean): void;
  isOn(): boolean;
}

export type Strobe = OnOffPart;
export type Siren = OnOffPart;

export interface Spotlight {
  /** Brightness 1..100 % through the PWM controller; the enable line follows `on`. */
  set(on: boolean, brightnessPct?: number): Promise<void>;
  state(): { on: boolean; brightnessPct: number };
}

export interface ResetButton {
  isPressed(): boolean;
  /** Debounced press/release; returns an unsubscribe function. */
  onChange(listener: (pressed: boolean) => void): () => void;
}

export interface IrCut {
  /** Moves the filter: `day` = IR-cut in (colour), `night` = out (IR). */
  set(mode: 'day' | 'night'): Promise<void>;
  get(): 'day' | 'night' | 'unknown';
}

export interface LightSensor {
  readLux(): Promise<number>;
}

export interface AxisPosition {
  pan: number;
  tilt: number;
}

/**
 * One Pelco-D receiver on the RS-485 bus (the PTZ head at one address, the wide lens's pan motor
 * at another). Speeds are signed: pan > 0 = right, tilt > 0 = up; magnitude 0..63 (Pelco-D 0x00-0x3F).
 * Positions are degrees; the wire carries hundredths of a degree.
 */
export interface PtzMotor {
  readonly address: number;
  move(panSpeed: number, tiltSpeed: number): Promise<void>;
  stop(): Promise<void>;
  gotoPan(deg: number): Promise<void>;
  gotoTilt(deg: number): Promise<void>;
  /** Asks the controller (query pan 0x51 / tilt 0x53); rejects on timeout or a bad checksum. */
  queryPosition(): Promise<AxisPosition>;
}

export interface Parts {
  statusLed?: StatusLed;
  strobeRed?: Strobe;
  strobeBlue?: Strobe;
  siren?: Siren;
  spotlight?: Spotlight;
  resetButton?: ResetButton;
  irCut?: IrCut;
  lightSensor?: LightSensor;
  ptz?: PtzMotor;
  widePan?: PtzMotor;
}

export type PartName = keyof Parts;
