import assert from "node:assert/strict";
import {
  BYTE_ORDERS,
  checkResponse,
  decodeRequest,
  decodeResponse,
  decodeValue,
  encodeExceptionResponse,
  encodeReadRequest,
  encodeRegistersResponse,
  encodeValue,
  exceptionName,
  MbapError,
  type MbapErrorReason,
  planReads,
  type ReadRequest,
  readRequestData,
  type RegisterType,
} from "../modbus/mod.ts";
import { seededRandom } from "../lib/random.ts";

const REQUEST: ReadRequest = {
  transactionId: 0x1234,
  unit: 17,
  table: "input",
  address: 10,
  count: 3,
};

Deno.test("encodeReadRequest() lays out the MBAP header and PDU", () => {
  // tid 1234, protocol 0000, length 0006, unit 11, function 04, address 000a, count 0003
  assert.equal(encodeReadRequest(REQUEST).toHex(), "123400000006110400" + "0a0003");
  const decoded = decodeRequest(encodeReadRequest(REQUEST))!;
  assert.equal(decoded.byteLength, 12);
  assert.deepEqual(
    { ...decoded.request, data: readRequestData(decoded.request.data) },
    { transactionId: 0x1234, unit: 17, functionCode: 4, data: { address: 10, count: 3 } },
  );
});

Deno.test("encodeReadRequest() refuses fields out of range", () => {
  for (
    const bad of [{ count: 0 }, { count: 126 }, { unit: 256 }, { address: 65536 }, {
      transactionId: -1,
    }]
  ) {
    assert.throws(() => encodeReadRequest({ ...REQUEST, ...bad }), RangeError);
  }
});

Deno.test("decodeResponse() decodes register and exception responses", () => {
  const registers = encodeRegistersResponse(0x1234, 17, 4, [1, 0xffff, 300]);
  // tid, protocol, length 9 = unit + function + byte count + 6, unit 11, function 04, 6 bytes
  assert.equal(registers.toHex(), "12340000000911040600" + "01ffff012c");
  assert.deepEqual(decodeResponse(registers), {
    response: {
      type: "registers",
      transactionId: 0x1234,
      unit: 17,
      functionCode: 4,
      registers: new Uint16Array([1, 0xffff, 300]),
    },
    byteLength: 15,
  });
  const exception = encodeExceptionResponse(0x1234, 17, 4, 2);
  assert.equal(exception.toHex(), "123400000003118402");
  assert.deepEqual(decodeResponse(exception)?.response, {
    type: "exception",
    transactionId: 0x1234,
    unit: 17,
    functionCode: 4,
    exceptionCode: 2,
  });
  assert.equal(exceptionName(2), "illegal data address");
  assert.equal(exceptionName(0x13), "exception 0x13");
});

Deno.test("decodeResponse() needs more bytes for every truncation, also at an offset", () => {
  const bytes = encodeRegistersResponse(1, 1, 3, [7, 8]);
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.equal(decodeResponse(bytes.subarray(0, cut)), undefined, `cut at ${cut}`);
  }
  const two = new Uint8Array([...bytes, ...bytes]);
  assert.equal(decodeResponse(two, bytes.length)?.byteLength, bytes.length);
});

Deno.test("decodeResponse() throws MbapError for bytes that cannot be a response", () => {
  const cases: [string, MbapErrorReason][] = [
    ["0001" + "0001" + "0005" + "01030200", "bad-protocol"], // protocol id 1
    ["0001" + "0000" + "0001" + "01", "bad-length"], // length below 2
    ["0001" + "0000" + "00ff" + "01", "bad-length"], // length 255
    ["0001" + "0000" + "0005" + "0103040001", "bad-length"], // byte count 4, 2 present
    ["0001" + "0000" + "0004" + "01030100", "bad-length"], // odd byte count
    ["0001" + "0000" + "0004" + "01830200", "bad-length"], // exception with extra byte
    ["0001" + "0000" + "0005" + "0110020001", "bad-function"], // function 16
  ];
  for (const [hex, reason] of cases) {
    assert.throws(() => decodeResponse(Uint8Array.fromHex(hex)), (error: unknown) => {
      assert.ok(error instanceof MbapError, hex);
      assert.equal(error.reason, reason, hex);
      return true;
    });
  }
});

Deno.test("decodeResponse() lets nothing but MbapError escape on random bytes", () => {
  const random = seededRandom(13);
  for (let i = 0; i < 5_000; i++) {
    const bytes = new Uint8Array(1 + Math.floor(random() * 40)).map(() => random() * 256);
    if (bytes.length >= 4 && random() < 0.5) bytes.set([0, 0], 2); // reach past the protocol id check
    try {
      decodeResponse(bytes);
    } catch (error) {
      assert.ok(error instanceof MbapError, `${bytes.toHex()}: ${error}`);
    }
  }
});

Deno.test("checkResponse() names the first field that does not answer the request", () => {
  const answer = decodeResponse(encodeRegistersResponse(0x1234, 17, 4, [1, 2, 3]))!.response;
  assert.equal(checkResponse(REQUEST, answer), undefined);
  assert.equal(checkResponse({ ...REQUEST, transactionId: 1 }, answer), "transaction");
  assert.equal(checkResponse({ ...REQUEST, unit: 1 }, answer), "unit");
  assert.equal(checkResponse({ ...REQUEST, table: "holding" }, answer), "function");
  assert.equal(checkResponse({ ...REQUEST, count: 2 }, answer), "count");
  const exception = decodeResponse(encodeExceptionResponse(0x1234, 17, 4, 2))!.response;
  assert.equal(checkResponse(REQUEST, exception), undefined);
});

Deno.test("decodeValue() reads every type; 32-bit values in all four orders", () => {
  const cases: [RegisterType, number, number[]][] = [
    ["int16", -200, [0xff38]],
    ["int16", 32767, [0x7fff]],
    ["uint16", 65535, [0xffff]],
    ["int32", -2, [0xffff, 0xfffe]],
    ["int32", 0x11223344, [0x1122, 0x3344]],
    ["uint32", 0xfffffffe, [0xffff, 0xfffe]],
    ["float32", 1013.25, [0x447d, 0x5000]],
    ["float32", -0.5, [0xbf00, 0x0000]],
  ];
  for (const [type, value, registers] of cases) {
    assert.deepEqual(encodeValue(value, type), registers, `${type} ${value}`);
    assert.equal(decodeValue(new Uint16Array([0, ...registers]), 1, type), value);
  }
  const layouts = {
    ABCD: [0x1122, 0x3344],
    CDAB: [0x3344, 0x1122],
    BADC: [0x2211, 0x4433],
    DCBA: [0x4433, 0x2211],
  };
  for (const order of BYTE_ORDERS) {
    assert.deepEqual(encodeValue(0x11223344, "uint32", order), layouts[order], order);
    assert.equal(decodeValue(new Uint16Array(layouts[order]), 0, "uint32", order), 0x11223344);
    const float = decodeValue(
      new Uint16Array(encodeValue(21.5, "float32", order)),
      0,
      "float32",
      order,
    );
    assert.equal(float, 21.5, order);
  }
  assert.ok(Number.isNaN(decodeValue(new Uint16Array([0x7fc0, 0]), 0, "float32")));
});

Deno.test("planReads() merges through small gaps, splits at 125 registers and far gaps", () => {
  const plan = (spans: [number, number][], maxGap?: number) =>
    planReads(spans.map(([address, count]) => ({ table: "holding" as const, address, count })), {
      ...(maxGap === undefined ? {} : { maxGap }),
    }).map(({ address, count, points }) => [address, count, points]);
  assert.deepEqual(plan([[5, 1], [0, 2], [2, 2]]), [[0, 6, [1, 2, 0]]]);
  assert.deepEqual(plan([[0, 1], [2, 1]], 0), [[0, 1, [0]], [2, 1, [1]]]);
  assert.deepEqual(plan([[0, 1], [1, 1]], 0), [[0, 2, [0, 1]]]);
  assert.deepEqual(plan([[0, 2], [1, 1]]), [[0, 2, [0, 1]]]); // overlap
  assert.deepEqual(plan([[0, 1], [123, 2], [124, 2]], 200), [[0, 125, [0, 1]], [124, 2, [2]]]);
  assert.deepEqual(plan([[0, 1], [17, 1], [100, 1]]), [[0, 18, [0, 1]], [100, 1, [2]]]);
  // 200 adjacent registers: two reads, 125 then 75
  const many = Array.from({ length: 200 }, (_, i): [number, number] => [i, 1]);
  assert.deepEqual(plan(many).map(([address, count]) => [address, count]), [[0, 125], [125, 75]]);
});
