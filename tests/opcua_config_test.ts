import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../lib/cli.ts";
import { loadOpcuaConfig, parseOpcuaConfig } from "../gateway/opcua_config.ts";
import { testPki } from "./_pki.ts";

const SERVER = {
  name: "line-1",
  endpoint: "opc.tcp://127.0.0.1:4840/UA/Plant",
  serverCertificate: "line-1.pem",
  sensors: [{ id: 201, temperature: { node: "ns=1;s=Boiler.Temperature" } }],
};

/** The file with `change` merged into its first server (`undefined` deletes a field). */
function file(change: Record<string, unknown> = {}): string {
  const server: Record<string, unknown> = { ...SERVER, ...change };
  for (const [key, value] of Object.entries(change)) if (value === undefined) delete server[key];
  return JSON.stringify({ servers: [server] });
}

Deno.test("parseOpcuaConfig() fills in the contract's defaults", () => {
  const config = parseOpcuaConfig(file(), "plant.json");
  assert.deepEqual(config.servers[0], {
    name: "line-1",
    endpoint: "opc.tcp://127.0.0.1:4840/UA/Plant",
    security: "SignAndEncrypt",
    policy: "Basic256Sha256",
    publishingIntervalMs: 1000,
    sensors: [{
      id: 201,
      points: { temperature: { node: "ns=1;s=Boiler.Temperature", scale: 1, offset: 0 } },
    }],
  });
});

Deno.test("parseOpcuaConfig() accepts every security mode, policy and node id form", () => {
  const config = parseOpcuaConfig(
    file({
      security: "Sign",
      policy: "Aes256_Sha256_RsaPss",
      publishingInterval: 0.25,
      sensors: [
        {
          id: 4294967295,
          temperature: { node: "ns=2;i=1001", scale: 0.1, offset: -40 },
          pressure: { node: "i=2258" },
          humidity: { node: "ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a" },
        },
        { id: 1, pressure: { node: "ns=1;b=M/RbKBsRVkePCePcx24oRA==" } },
      ],
    }),
    "plant.json",
  );
  const server = config.servers[0]!;
  assert.equal(server.security, "Sign");
  assert.equal(server.policy, "Aes256_Sha256_RsaPss");
  assert.equal(server.publishingIntervalMs, 250);
  assert.deepEqual(server.sensors[0]!.points.temperature, {
    node: "ns=2;i=1001",
    scale: 0.1,
    offset: -40,
  });
  const none = parseOpcuaConfig(
    file({ security: "None", policy: "None", serverCertificate: undefined }),
    "p.json",
  );
  assert.equal(none.servers[0]!.policy, "None");
});

const BAD: [string, Record<string, unknown> | string, string][] = [
  ["not JSON", "{", "plant.json: not valid JSON ("],
  ["no servers", '{"servers": []}', 'plant.json: servers: expected a non-empty array, got "[]"'],
  [
    "unknown top-level field",
    '{"servers": [], "server": 1}',
    "plant.json: server: unknown field (known: servers)",
  ],
  [
    "a bad name",
    { name: "Line 1" },
    'plant.json: servers[0].name: expected [a-z0-9_-]{1,64}, got "Line 1"',
  ],
  [
    "no endpoint",
    { endpoint: undefined },
    "plant.json: servers[0].endpoint: expected a non-empty string, got nothing",
  ],
  [
    "an http endpoint",
    { endpoint: "http://plc:4840" },
    'plant.json: servers[0].endpoint: expected opc.tcp://HOST:PORT/PATH, got "http://plc:4840"',
  ],
  [
    "an unknown mode",
    { security: "Encrypt" },
    'plant.json: servers[0].security: expected None, Sign or SignAndEncrypt, got "Encrypt"',
  ],
  [
    "an unknown policy",
    { policy: "Basic128Rsa15" },
    'plant.json: servers[0].policy: expected Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss, got "Basic128Rsa15"',
  ],
  [
    "a policy with security None",
    { security: "None", policy: "Basic256Sha256" },
    'plant.json: servers[0].policy: must be absent or "None" with security "None", got "Basic256Sha256"',
  ],
  [
    "no certificate with SignAndEncrypt",
    { serverCertificate: undefined },
    'plant.json: servers[0].serverCertificate: required with security "SignAndEncrypt"',
  ],
  [
    "a user without password",
    { user: "vigia" },
    "plant.json: servers[0].passwordFile: user and passwordFile go together",
  ],
  [
    "a zero publishing interval",
    { publishingInterval: 0 },
    'plant.json: servers[0].publishingInterval: expected seconds from 0.01 to 3600, got "0"',
  ],
  [
    "a typo in a field",
    { publishInterval: 1 },
    "plant.json: servers[0].publishInterval: unknown field (known: name, endpoint, security, policy, serverCertificate, user, passwordFile, publishingInterval, sensors)",
  ],
  [
    "no sensors",
    { sensors: [] },
    'plant.json: servers[0].sensors: expected a non-empty array, got "[]"',
  ],
  [
    "a sensor id 0",
    { sensors: [{ id: 0, temperature: { node: "i=1" } }] },
    'plant.json: servers[0].sensors[0].id: expected an integer from 1 to 4294967295, got "0"',
  ],
  [
    "a sensor without quantities",
    { sensors: [{ id: 5 }] },
    "plant.json: servers[0].sensors[0]: needs at least one of temperature, pressure, humidity",
  ],
  [
    "a misspelt quantity",
    { sensors: [{ id: 5, temprature: { node: "i=1" } }] },
    "plant.json: servers[0].sensors[0].temprature: unknown field (known: id, temperature, pressure, humidity)",
  ],
  [
    "a bad node id",
    { sensors: [{ id: 5, pressure: { node: "Boiler.Pressure" } }] },
    'plant.json: servers[0].sensors[0].pressure.node: expected a node id like ns=1;s=Boiler.Temperature or ns=2;i=1001, got "Boiler.Pressure"',
  ],
  [
    "a string scale",
    { sensors: [{ id: 5, pressure: { node: "i=1", scale: "10" } }] },
    'plant.json: servers[0].sensors[0].pressure.scale: expected a number, got "10"',
  ],
  [
    "a sensor id twice",
    { sensors: [{ id: 5, pressure: { node: "i=1" } }, { id: 5, humidity: { node: "i=2" } }] },
    "plant.json: servers[0].sensors[1].id: sensor 5 is listed twice",
  ],
];

for (const [name, change, message] of BAD) {
  Deno.test(`parseOpcuaConfig() refuses ${name} naming file, field and reason`, () => {
    const text = typeof change === "string" ? change : file(change);
    assert.throws(() => parseOpcuaConfig(text, "plant.json"), (error) => {
      assert.ok(error instanceof UsageError);
      assert.ok(error.message.startsWith(message), `${error.message}\n  !=\n${message}`);
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  });
}

Deno.test("parseOpcuaConfig() refuses a server name or sensor id used twice across servers", () => {
  const twice = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    JSON.stringify({ servers: [{ ...SERVER, ...a }, { ...SERVER, ...b }] });
  assert.throws(
    () =>
      parseOpcuaConfig(twice({}, { sensors: [{ id: 9, pressure: { node: "i=1" } }] }), "p.json"),
    {
      message: 'p.json: servers[1].name: "line-1" is used twice',
    },
  );
  assert.throws(() => parseOpcuaConfig(twice({}, { name: "line-2" }), "p.json"), {
    message: "p.json: servers[1].sensors[0].id: sensor 201 is listed twice",
  });
});

Deno.test("loadOpcuaConfig() reads the pinned certificate and the password, and names what is missing", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "plant.json");
    await Deno.writeTextFile(join(dir, "pass"), "s3cret\n");
    await Deno.writeTextFile(
      path,
      file({ serverCertificate: pki.opcuaCert, user: "vigia", passwordFile: join(dir, "pass") }),
    );
    const server = loadOpcuaConfig(path).servers[0]!;
    assert.deepEqual(server.user, { name: "vigia", password: "s3cret" });
    assert.equal(server.serverCertificate!.der[0], 0x30, "DER from the PEM file");

    await Deno.writeTextFile(path, file({ serverCertificate: join(dir, "nope.pem") }));
    assert.throws(() => loadOpcuaConfig(path), {
      message: `${path}: servers[0].serverCertificate: cannot read "${
        join(dir, "nope.pem")
      }": no such file`,
    });
    await Deno.writeTextFile(path, file({ serverCertificate: join(dir, "pass") }));
    assert.throws(() => loadOpcuaConfig(path), {
      message: `${path}: servers[0].serverCertificate: "${
        join(dir, "pass")
      }" is not a PEM or DER certificate`,
    });
    assert.throws(() => loadOpcuaConfig(join(dir, "absent.json")), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
