import assert from "node:assert/strict";
import { join } from "node:path";
import { parseModbusConfig } from "../gateway/modbus_config.ts";
import { SourceConfigError } from "../gateway/source_config.ts";
import { startGateway } from "./_link.ts";
import { testPki } from "./_pki.ts";

/** A valid file; each case below changes one field of it. */
function validFile(): { devices: Record<string, unknown>[] } {
  return {
    devices: [{
      name: "boiler-plc",
      host: "127.0.0.1",
      sensors: [
        { id: 101, temperature: { table: "holding", address: 0, type: "int16", scale: 0.1 } },
        {
          id: 102,
          pressure: { table: "input", address: 10, type: "float32", order: "CDAB" },
          humidity: { table: "holding", address: 4, type: "uint16", scale: 0.01, offset: -10 },
        },
      ],
    }],
  };
}

Deno.test("parseModbusConfig() fills the documented defaults", () => {
  const config = parseModbusConfig("modbus.json", JSON.stringify(validFile()));
  const [device] = config.devices;
  assert.deepEqual({ ...device!, sensors: undefined }, {
    name: "boiler-plc",
    host: "127.0.0.1",
    port: 502,
    unit: 1,
    intervalMs: 1000,
    timeoutMs: 1000,
    sensors: undefined,
  });
  assert.deepEqual(device!.sensors[0], {
    id: 101,
    points: {
      temperature: {
        table: "holding",
        address: 0,
        type: "int16",
        order: "ABCD",
        scale: 0.1,
        offset: 0,
      },
    },
  });
  assert.equal(device!.sensors[1]!.points.pressure!.order, "CDAB");
});

type Edit = (file: ReturnType<typeof validFile>) => void;
const device = (file: ReturnType<typeof validFile>) => file.devices[0]!;
const sensor = (file: ReturnType<typeof validFile>, i: number) =>
  (device(file).sensors as Record<string, unknown>[])[i]!;
const point = (file: ReturnType<typeof validFile>, i: number, quantity: string) =>
  sensor(file, i)[quantity] as Record<string, unknown>;

const CASES: [string, Edit, string][] = [
  ["no devices", (f) => (f.devices = []), "devices: expected at least one entry, got []"],
  ["a typo", (f) => (device(f).intervall = 1), "devices[0].intervall: unknown field"],
  ["name missing", (f) => delete device(f).name, "devices[0].name: required"],
  [
    "name upper case",
    (f) => (device(f).name = "Boiler"),
    'devices[0].name: "Boiler" does not match',
  ],
  ["name too long", (f) => (device(f).name = "a".repeat(65)), "devices[0].name: "],
  [
    "name twice",
    (f) =>
      f.devices.push({ ...device(f), sensors: [{ id: 9, humidity: point(f, 1, "humidity") }] }),
    'devices[1].name: duplicate name "boiler-plc"',
  ],
  ["host missing", (f) => delete device(f).host, "devices[0].host: required"],
  ["host a number", (f) => (device(f).host = 5), "devices[0].host: expected a string, got 5"],
  ["port 0", (f) => (device(f).port = 0), "devices[0].port: expected an integer 1-65535, got 0"],
  [
    "port a string",
    (f) => (device(f).port = "502"),
    'devices[0].port: expected an integer 1-65535, got "502"',
  ],
  [
    "unit 256",
    (f) => (device(f).unit = 256),
    "devices[0].unit: expected an integer 0-255, got 256",
  ],
  [
    "interval too short",
    (f) => (device(f).interval = 0.001),
    "devices[0].interval: expected a number 0.01-86400, got 0.001",
  ],
  [
    "timeout 0",
    (f) => (device(f).timeout = 0),
    "devices[0].timeout: expected a number 0.01-600, got 0",
  ],
  [
    "sensors not an array",
    (f) => (device(f).sensors = {}),
    "devices[0].sensors: expected an array, got {}",
  ],
  [
    "id 0",
    (f) => (sensor(f, 0).id = 0),
    "devices[0].sensors[0].id: expected an integer 1-4294967295, got 0",
  ],
  ["id 2^32", (f) => (sensor(f, 0).id = 2 ** 32), "devices[0].sensors[0].id: expected an integer"],
  ["id twice", (f) => (sensor(f, 1).id = 101), "devices[0].sensors[1].id: duplicate sensor id 101"],
  ["no quantity", (f) => delete sensor(f, 0).temperature, "devices[0].sensors[0]: no quantity"],
  [
    "unknown quantity",
    (f) => (sensor(f, 0).flow = {}),
    "devices[0].sensors[0].flow: unknown field",
  ],
  [
    "point not an object",
    (f) => (sensor(f, 0).temperature = 3),
    "devices[0].sensors[0].temperature: expected an object, got 3",
  ],
  [
    "unknown table",
    (f) => (point(f, 0, "temperature").table = "coil"),
    'devices[0].sensors[0].temperature.table: unknown table "coil" (holding, input)',
  ],
  [
    "address negative",
    (f) => (point(f, 0, "temperature").address = -1),
    "devices[0].sensors[0].temperature.address: expected an integer 0-65535, got -1",
  ],
  [
    "a 32-bit value past the last register",
    (f) => (point(f, 1, "pressure").address = 65535),
    "devices[0].sensors[1].pressure.address: a float32 at 65535 would run past register 65535",
  ],
  [
    "unknown type",
    (f) => (point(f, 1, "pressure").type = "float"),
    'devices[0].sensors[1].pressure.type: unknown type "float" (int16, uint16, int32, uint32, float32)',
  ],
  [
    "unknown order",
    (f) => (point(f, 1, "pressure").order = "BACD"),
    'devices[0].sensors[1].pressure.order: unknown order "BACD" (ABCD, CDAB, BADC, DCBA)',
  ],
  [
    "an order on a 16-bit type",
    (f) => (point(f, 0, "temperature").order = "CDAB"),
    "devices[0].sensors[0].temperature.order: applies to 32-bit types only, not to int16",
  ],
  [
    "scale a string",
    (f) => (point(f, 0, "temperature").scale = "0.1"),
    'devices[0].sensors[0].temperature.scale: expected a number, got "0.1"',
  ],
  [
    "offset null",
    (f) => (point(f, 1, "humidity").offset = null),
    "devices[0].sensors[1].humidity.offset: expected a number, got null",
  ],
];

Deno.test("parseModbusConfig() names the file, the field and the reason for each mistake", () => {
  for (const [what, edit, message] of CASES) {
    const file = validFile();
    edit(file);
    assert.throws(
      () => parseModbusConfig("modbus.json", JSON.stringify(file)),
      (error: unknown) => {
        assert.ok(error instanceof SourceConfigError, what);
        assert.ok(
          error.message.startsWith(`modbus.json: ${message}`),
          `${what}: ${error.message}`,
        );
        return true;
      },
    );
  }
  assert.throws(() => parseModbusConfig("modbus.json", "{devices: []}"), {
    message: /^modbus\.json: not valid JSON \(/,
  });
});

Deno.test("gateway --modbus with a bad file exits 2 with one line naming file, field and reason", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-modbus-config-" });
  const file = join(dir, "modbus.json");
  const bad = validFile();
  point(bad, 1, "pressure").type = "float";
  await Deno.writeTextFile(file, JSON.stringify(bad));
  for (
    const [path, expected] of [
      [file, `${file}: devices[0].sensors[1].pressure.type: unknown type "float"`],
      [join(dir, "absent.json"), `${join(dir, "absent.json")}: cannot read the file`],
    ] as const
  ) {
    const gateway = await startGateway(pki, dir, { args: ["--modbus", path], waitFor: null });
    const status = await gateway.status;
    assert.equal(status.code, 2, gateway.output());
    const lines = gateway.lines().filter((line) => !/experimental/.test(line));
    assert.equal(lines.length, 1, gateway.output());
    assert.ok(lines[0]!.includes(expected), gateway.output());
  }
});
