import assert from "node:assert/strict";
import { crc16 } from "../protocol/mod.ts";
import { crc16Reference } from "./_crc_reference.ts";
import { randomBytes, randomInt, seededRandom } from "./_random.ts";

Deno.test('crc16() returns the catalogue check value 0x4b37 for "123456789"', () => {
  assert.equal(crc16(new TextEncoder().encode("123456789")), 0x4b37);
});

Deno.test("crc16() returns the init value 0xffff for no bytes", () => {
  assert.equal(crc16(new Uint8Array(0)), 0xffff);
});

Deno.test("crc16() covers only [start, end) of the array", () => {
  const bytes = new TextEncoder().encode("xx123456789yy");
  assert.equal(crc16(bytes, 2, 11), 0x4b37);
});

Deno.test("crc16() matches the bitwise definition on 10,000 seeded random inputs", () => {
  const random = seededRandom(0x16);
  for (let i = 0; i < 10_000; i++) {
    const bytes = randomBytes(random, randomInt(random, 0, 64));
    assert.equal(crc16(bytes), crc16Reference(bytes), `input ${bytes.toHex()}`);
  }
});
