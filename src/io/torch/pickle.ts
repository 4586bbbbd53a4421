/**
 * A safe Python unpickler (protocols 0–5) for the data parts of torch.save files. It rebuilds the builtin
 * containers and scalars itself; a global is only ever *called* when the caller put it in `constructors`
 * (collections.OrderedDict, torch's tensor rebuild, ...). Every other global — os.system, argparse.Namespace,
 * a numpy scalar — becomes an inert `PyObject` recording what would have been called: nothing is executed.
 */

/** A Python value as the unpickler rebuilds it. Lists are JS arrays; dicts keep insertion order. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyGlobal
  | PyObject
  | PyExternal;

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** dict / OrderedDict; keys are compared by JS identity, which suffices for the string and int keys of torch files. */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
  /** Attributes set by BUILD (an OrderedDict state_dict carries `_metadata`). */
  readonly attributes = new Map<string, PyValue>();
  constructor(readonly ordered = false) {}
  get(key: string): PyValue | undefined {
    return this.map.get(key);
  }
}

export class PySet {
  constructor(readonly items: PyValue[], readonly frozen = false) {}
}

/** A reference to a module-level name (`module.name`), never imported. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What calling a not-allowed global would have produced: the callable, its arguments and any BUILD state. */
export class PyObject {
  state: PyValue | undefined;
  readonly listItems: PyValue[] = [];
  readonly dictItems: [PyValue, PyValue][] = [];
  constructor(readonly callable: PyGlobal, readonly args: PyValue[]) {}
}

/** Values a constructor or persistent-id hook creates (tensors, storages): carried through unchanged. */
export abstract class PyExternal {}

export type Constructor = (args: PyValue[]) => PyValue;

export interface UnpickleOptions {
  /** Globals that may be called, keyed `module.name`. Everything else becomes a PyObject. */
  readonly constructors?: ReadonlyMap<string, Constructor>;
  /** Resolves PERSID/BINPERSID ids (torch storages); without it persistent ids are an error. */
  readonly persistentLoad?: (pid: PyValue) => PyValue;
}

/** A malformed or unsupported pickle; `offset` is the byte position of the failing opcode. */
export class PickleError extends Error {
  override name = 'PickleError';
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/** Constructors that only build builtin data, safe for any file. */
const BUILTIN_CONSTRUCTORS = new Map<string, Constructor>([
  ['collections.OrderedDict', () => new PyDict(true)],
  ['builtins.set', (args) => new PySet(iterableItems(args[0]))],
  ['builtins.frozenset', (args) => new PySet(iterableItems(args[0]), true)],
  ['builtins.bytearray', (args) => bytesFrom(args[0])],
  ['builtins.bytes', (args) => bytesFrom(args[0])],
  // protocol 2 pickles bytes as _codecs.encode(text, 'latin1')
  ['_codecs.encode', (args) => latin1Bytes(args[0])],
]);

function iterableItems(value: PyValue | undefined): PyValue[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value;
  if (value instanceof PyTuple || value instanceof PySet) return value.items;
  throw new Error('expected a list or tuple');
}

function bytesFrom(value: PyValue | undefined): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return Uint8Array.from(value.map(Number));
  if (typeof value === 'string') return latin1Bytes(value);
  throw new Error('expected bytes');
}

function latin1Bytes(value: PyValue | undefined): Uint8Array {
  if (typeof value !== 'string') throw new Error('expected a string to encode');
  return Uint8Array.from(value, (c) => c.charCodeAt(0) & 0xff);
}

/** ints beyond 2^53 stay bigint; the rest become plain numbers. */
function intValue(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Two's-complement little-endian integer (LONG1/LONG4, also the legacy magic number). */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i -= 1) value = (value << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(8 * bytes.length);
  return intValue(value);
}

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/** Parses a Python text literal from protocol 0 (`'abc'`, `"abc"` with backslash escapes). */
function parseQuoted(text: string): string {
  const quote = text[0];
  if ((quote !== "'" && quote !== '"') || text[text.length - 1] !== quote) throw new Error(`bad string literal ${text}`);
  return text.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? `\\${e}`;
  });
}

/** Reads pickles from a byte buffer; `offset` ends just past the STOP opcode so several pickles can follow. */
export class Unpickler {
  offset: number;
  private readonly view: DataView;
  private readonly constructors: ReadonlyMap<string, Constructor>;

  constructor(private readonly bytes: Uint8Array, offset = 0, private readonly options: UnpickleOptions = {}) {
    this.offset = offset;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.constructors = new Map([...BUILTIN_CONSTRUCTORS, ...(options.constructors ?? [])]);
  }

  private take(n: number): Uint8Array {
    if (n < 0 || this.offset + n > this.bytes.length) throw new PickleError(`unexpected end of data (need ${n} bytes)`, this.offset);
    const slice = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return slice;
  }

  private u8(): number {
    return this.take(1)[0];
  }

  private u16(): number {
    const at = this.take(2).byteOffset - this.bytes.byteOffset;
    return this.view.getUint16(at, true);
  }

  private i32(): number {
    const at = this.take(4).byteOffset - this.bytes.byteOffset;
    return this.view.getInt32(at, true);
  }

  private u32(): number {
    const at = this.take(4).byteOffset - this.bytes.byteOffset;
    return this.view.getUint32(at, true);
  }

  private u64(): number {
    const at = this.take(8).byteOffset - this.bytes.byteOffset;
    const value = this.view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleError('length field too large', at);
    return Number(value);
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.offset);
    if (end < 0) throw new PickleError('unexpected end of data (unterminated line)', this.offset);
    const text = latin1.decode(this.bytes.subarray(this.offset, end));
    this.offset = end + 1;
    return text;
  }

  /** Reads one pickle (up to and including STOP) and returns its value. */
  load(): PyValue {
    const stack: StackItem[] = [];
    const memo = new Map<number, PyValue>();
    const pop = (): PyValue => {
      const item = stack.pop();
      if (item === undefined) throw new PickleError('stack underflow', this.offset);
      if (item === MARK) throw new PickleError('unexpected MARK on the stack', this.offset);
      return item;
    };
    const top = (): PyValue => {
      const item = stack[stack.length - 1];
      if (item === undefined || item === MARK) throw new PickleError('stack underflow', this.offset);
      return item;
    };
    const popMark = (): PyValue[] => {
      const at = stack.lastIndexOf(MARK);
      if (at < 0) throw new PickleError('no MARK on the stack', this.offset);
      const items = stack.splice(at) as PyValue[];
      return items.slice(1);
    };
    const memoGet = (key: number): PyValue => {
      if (!memo.has(key)) throw new PickleError(`memo key ${key} not found`, this.offset);
      return memo.get(key)!;
    };
    for (;;) {
      const at = this.offset;
      const op = this.u8();
      try {
        switch (op) {
          case 0x80: { // PROTO
            const protocol = this.u8();
            if (protocol > 5) throw new PickleError(`unsupported pickle protocol ${protocol}`, at);
            break;
          }
          case 0x95: this.take(8); break; // FRAME: framing is transparent when the whole buffer is in memory
          case 0x2e: return pop(); // STOP
          case 0x28: stack.push(MARK); break; // MARK
          case 0x30: pop(); break; // POP
          case 0x31: popMark(); break; // POP_MARK
          case 0x32: stack.push(top()); break; // DUP
          // constants and numbers
          case 0x4e: stack.push(null); break; // NONE
          case 0x88: stack.push(true); break; // NEWTRUE
          case 0x89: stack.push(false); break; // NEWFALSE
          case 0x4b: stack.push(this.u8()); break; // BININT1
          case 0x4d: stack.push(this.u16()); break; // BININT2
          case 0x4a: stack.push(this.i32()); break; // BININT
          case 0x8a: stack.push(decodeLong(this.take(this.u8()))); break; // LONG1
          case 0x8b: stack.push(decodeLong(this.take(this.i32()))); break; // LONG4
          case 0x47: { // BINFLOAT (big-endian double)
            const bytes = this.take(8);
            stack.push(new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, false));
            break;
          }
          case 0x49: stack.push(this.textInt(this.line())); break; // INT
          case 0x4c: stack.push(intValue(BigInt(this.line().replace(/L$/, '')))); break; // LONG
          case 0x46: stack.push(Number(this.line())); break; // FLOAT
          // strings and bytes
          case 0x58: stack.push(utf8.decode(this.take(this.u32()))); break; // BINUNICODE
          case 0x8c: stack.push(utf8.decode(this.take(this.u8()))); break; // SHORT_BINUNICODE
          case 0x8d: stack.push(utf8.decode(this.take(this.u64()))); break; // BINUNICODE8
          case 0x56: stack.push(this.line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))); break; // UNICODE
          case 0x53: stack.push(parseQuoted(this.line())); break; // STRING (py2 str)
          case 0x54: stack.push(latin1.decode(this.take(this.i32()))); break; // BINSTRING
          case 0x55: stack.push(latin1.decode(this.take(this.u8()))); break; // SHORT_BINSTRING
          case 0x42: stack.push(this.take(this.u32()).slice()); break; // BINBYTES
          case 0x43: stack.push(this.take(this.u8()).slice()); break; // SHORT_BINBYTES
          case 0x8e: stack.push(this.take(this.u64()).slice()); break; // BINBYTES8
          case 0x96: stack.push(this.take(this.u64()).slice()); break; // BYTEARRAY8
          case 0x97: throw new PickleError('out-of-band buffers (pickle protocol 5 NEXT_BUFFER) are not supported', at);
          case 0x98: break; // READONLY_BUFFER: no-op on in-band data
          // containers
          case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
          case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
          case 0x85: stack.push(new PyTuple([pop()])); break; // TUPLE1
          case 0x86: { const b = pop(); const a = pop(); stack.push(new PyTuple([a, b])); break; } // TUPLE2
          case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(new PyTuple([a, b, c])); break; } // TUPLE3
          case 0x5d: stack.push([]); break; // EMPTY_LIST
          case 0x6c: stack.push(popMark()); break; // LIST
          case 0x61: { const item = pop(); this.appendTo(top(), [item], at); break; } // APPEND
          case 0x65: { const items = popMark(); this.appendTo(top(), items, at); break; } // APPENDS
          case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT
          case 0x64: { const dict = new PyDict(); this.setItems(dict, popMark(), at); stack.push(dict); break; } // DICT
          case 0x73: { const value = pop(); const key = pop(); this.setItems(top(), [key, value], at); break; } // SETITEM
          case 0x75: { const items = popMark(); this.setItems(top(), items, at); break; } // SETITEMS
          case 0x8f: stack.push(new PySet([])); break; // EMPTY_SET
          case 0x90: { const items = popMark(); const set = top(); if (!(set instanceof PySet)) throw new PickleError('ADDITEMS on a non-set', at); set.items.push(...items); break; } // ADDITEMS
          case 0x91: stack.push(new PySet(popMark(), true)); break; // FROZENSET
          // memo
          case 0x70: memo.set(Number(this.line()), top()); break; // PUT
          case 0x71: memo.set(this.u8(), top()); break; // BINPUT
          case 0x72: memo.set(this.u32(), top()); break; // LONG_BINPUT
          case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
          case 0x67: stack.push(memoGet(Number(this.line()))); break; // GET
          case 0x68: stack.push(memoGet(this.u8())); break; // BINGET
          case 0x6a: stack.push(memoGet(this.u32())); break; // LONG_BINGET
          // globals and object construction: only allowed constructors run
          case 0x63: { const module = this.line(); const name = this.line(); stack.push(new PyGlobal(module, name)); break; } // GLOBAL
          case 0x93: { const name = pop(); const module = pop(); // STACK_GLOBAL
            if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL needs two strings', at);
            stack.push(new PyGlobal(module, name));
            break;
          }
          case 0x52: { const args = pop(); const callable = pop(); stack.push(this.call(callable, args, at)); break; } // REDUCE
          case 0x81: { const args = pop(); const cls = pop(); stack.push(this.call(cls, args, at)); break; } // NEWOBJ
          case 0x92: { pop(); const args = pop(); const cls = pop(); stack.push(this.call(cls, args, at)); break; } // NEWOBJ_EX (kwargs kept out)
          case 0x69: { const module = this.line(); const name = this.line(); stack.push(this.call(new PyGlobal(module, name), new PyTuple(popMark()), at)); break; } // INST
          case 0x6f: { const items = popMark(); const cls = items.shift(); stack.push(this.call(cls ?? null, new PyTuple(items), at)); break; } // OBJ
          case 0x62: { const state = pop(); this.build(top(), state, at); break; } // BUILD
          case 0x50: stack.push(this.persistent(this.line(), at)); break; // PERSID
          case 0x51: stack.push(this.persistent(pop(), at)); break; // BINPERSID
          case 0x82: case 0x83: case 0x84: // EXT1/2/4
            throw new PickleError('extension registry codes are not supported', at);
          default:
            throw new PickleError(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`, at);
        }
      } catch (error) {
        if (error instanceof PickleError) throw error;
        throw new PickleError((error as Error).message, at);
      }
    }
  }

  private textInt(text: string): number | boolean | bigint {
    if (text === '00') return false;
    if (text === '01') return true;
    return intValue(BigInt(text));
  }

  private appendTo(target: PyValue, items: PyValue[], at: number): void {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.listItems.push(...items);
    else throw new PickleError('APPEND to a non-list', at);
  }

  private setItems(target: PyValue, flat: PyValue[], at: number): void {
    if (flat.length % 2 !== 0) throw new PickleError('odd number of items for a dict', at);
    for (let i = 0; i < flat.length; i += 2) {
      if (target instanceof PyDict) target.map.set(flat[i], flat[i + 1]);
      else if (target instanceof PyObject) target.dictItems.push([flat[i], flat[i + 1]]);
      else throw new PickleError('SETITEM on a non-dict', at);
    }
  }

  private call(callable: PyValue, args: PyValue, at: number): PyValue {
    if (!(callable instanceof PyGlobal)) throw new PickleError('call of a value that is not a global', at);
    if (!(args instanceof PyTuple)) throw new PickleError(`arguments of ${callable.qualifiedName} are not a tuple`, at);
    // protocols < 3 name Python 3 builtins by their Python 2 module (pickle's fix_imports)
    const name = callable.module === '__builtin__' ? `builtins.${callable.name}` : callable.qualifiedName;
    const construct = this.constructors.get(name);
    return construct ? construct(args.items) : new PyObject(callable, args.items);
  }

  private build(target: PyValue, state: PyValue, at: number): void {
    if (target instanceof PyObject) target.state = state;
    else if (target instanceof PyDict && state instanceof PyDict) {
      for (const [key, value] of state.map) if (typeof key === 'string') target.attributes.set(key, value);
    } else if (target instanceof PyExternal) {
      // torch tensors may carry BUILD state (python attributes); none matter for weights
    } else if (state !== null) throw new PickleError('BUILD on a value that takes no state', at);
  }

  private persistent(pid: PyValue, at: number): PyValue {
    if (!this.options.persistentLoad) throw new PickleError('persistent id in a pickle that should have none', at);
    return this.options.persistentLoad(pid);
  }
}

/** Reads the single pickle in `bytes`. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PyValue {
  return new Unpickler(bytes, 0, options).load();
}
