import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../lib/cli.ts";
import { parseOpcuaConfig, readOpcuaConfig } from "../gateway/opcua_config.ts";
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
  const config = parseOpcuaConfig("plant.json", file());
  assert.deepEqual(config.servers[0], {
    name: "line-1",
    endpoint: "opc.tcp://127.0.0.1:4840/UA/Plant",
    host: "127.0.0.1",
    port: 4840,
    security: "SignAndEncrypt",
    policy: "Basic256Sha256",
    serverCertificate: { path: "line-1.pem" },
    publishingIntervalMs: 1000,
    sensors: [{
      id: 201,
      points: { temperature: { node: "ns=1;s=Boiler.Temperature", scale: 1, offset: 0 } },
    }],
  });
});

Deno.test("parseOpcuaConfig() accepts every security mode, policy and node id form", () => {
  const config = parseOpcuaConfig(
    "plant.json",
    file({
      endpoint: "opc.tcp://[::1]/UA",
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
  );
  const server = config.servers[0]!;
  assert.equal(server.security, "Sign");
  assert.equal(server.policy, "Aes256_Sha256_RsaPss");
  assert.equal(server.publishingIntervalMs, 250);
  assert.deepEqual([server.host, server.port], ["::1", 4840], "OPC UA's port by default");
  assert.deepEqual(server.sensors[0]!.points.temperature, {
    node: "ns=2;i=1001",
    scale: 0.1,
    offset: -40,
  });
  const none = parseOpcuaConfig(
    "p.json",
    file({ security: "None", policy: "None", serverCertificate: undefined }),
  );
  assert.equal(none.servers[0]!.policy, "None");
});

const BAD: [string, Record<string, unknown> | string, string][] = [
  ["not JSON", "{", "plant.json: not valid JSON ("],
  ["no servers", '{"servers": []}', "plant.json: servers: expected at least one entry, got []"],
  [
    "unknown top-level field",
    '{"servers": [], "server": 1}',
    "plant.json: server: unknown field (expected servers)",
  ],
  [
    "a bad name",
    { name: "Line 1" },
    'plant.json: servers[0].name: "Line 1" does not match ^[a-z0-9_-]{1,64}$',
  ],
  ["no endpoint", { endpoint: undefined }, "plant.json: servers[0].endpoint: required"],
  [
    "an http endpoint",
    { endpoint: "http://plc:4840" },
    'plant.json: servers[0].endpoint: expected opc.tcp://HOST:PORT/PATH, got "http://plc:4840"',
  ],
  [
    "an unknown mode",
    { security: "Encrypt" },
    'plant.json: servers[0].security: unknown security "Encrypt" (None, Sign, SignAndEncrypt)',
  ],
  [
    "an unknown policy",
    { policy: "Basic128Rsa15" },
    'plant.json: servers[0].policy: unknown policy "Basic128Rsa15" (Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss)',
  ],
  [
    "a policy with security None",
    { security: "None", policy: "Basic256Sha256" },
    'plant.json: servers[0].policy: must be absent or "None" with security "None"',
  ],
  [
    "no certificate with SignAndEncrypt",
    { serverCertificate: undefined },
    'plant.json: servers[0].serverCertificate: required with security "SignAndEncrypt" (the certificate to pin)',
  ],
  [
    "a user without password",
    { user: "vigia" },
    "plant.json: servers[0].passwordFile: user and passwordFile go together",
  ],
  [
    "a password with security None",
    { security: "None", serverCertificate: undefined, user: "vigia", passwordFile: "p" },
    'plant.json: servers[0].user: a password needs security "Sign" or "SignAndEncrypt"',
  ],
  [
    "a zero publishing interval",
    { publishingInterval: 0 },
    "plant.json: servers[0].publishingInterval: expected a number 0.01-3600, got 0",
  ],
  [
    "a typo in a field",
    { publishInterval: 1 },
    "plant.json: servers[0].publishInterval: unknown field (expected name, endpoint, security, policy, serverCertificate, user, passwordFile, publishingInterval, sensors)",
  ],
  [
    "no sensors",
    { sensors: [] },
    "plant.json: servers[0].sensors: expected at least one entry, got []",
  ],
  [
    "a sensor id 0",
    { sensors: [{ id: 0, temperature: { node: "i=1" } }] },
    "plant.json: servers[0].sensors[0].id: expected an integer 1-4294967295, got 0",
  ],
  [
    "a sensor without quantities",
    { sensors: [{ id: 5 }] },
    "plant.json: servers[0].sensors[0]: no quantity (expected at least one of temperature, pressure, humidity)",
  ],
  [
    "a misspelt quantity",
    { sensors: [{ id: 5, temprature: { node: "i=1" } }] },
    "plant.json: servers[0].sensors[0].temprature: unknown field (expected id, temperature, pressure, humidity)",
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
    "plant.json: servers[0].sensors[1].id: duplicate sensor id 5 (each id once per file)",
  ],
];

for (const [name, change, message] of BAD) {
  Deno.test(`parseOpcuaConfig() refuses ${name} naming file, field and reason`, () => {
    const text = typeof change === "string" ? change : file(change);
    assert.throws(() => parseOpcuaConfig("plant.json", text), (error) => {
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
  const other = { sensors: [{ id: 9, pressure: { node: "i=1" } }] };
  assert.throws(() => parseOpcuaConfig("p.json", twice({}, other)), {
    message: 'p.json: servers[1].name: duplicate name "line-1"',
  });
  assert.throws(() => parseOpcuaConfig("p.json", twice({}, { name: "line-2" })), {
    message: "p.json: servers[1].sensors[0].id: duplicate sensor id 201 (each id once per file)",
  });
});

Deno.test("readOpcuaConfig() reads the pinned certificate and the password, and names what is missing", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "plant.json");
    const write = (change: Record<string, unknown>) => Deno.writeTextFile(path, file(change));
    await Deno.writeTextFile(join(dir, "pass"), "s3cret\n");
    await write({
      serverCertificate: pki.opcuaCert,
      user: "vigia",
      passwordFile: join(dir, "pass"),
    });
    const server = (await readOpcuaConfig(path)).servers[0]!;
    assert.deepEqual(server.user, {
      name: "vigia",
      passwordFile: { path: join(dir, "pass"), value: "s3cret" },
    });
    assert.equal(server.serverCertificate!.value![0], 0x30, "DER from the PEM file");

    const missing = join(dir, "nope.pem");
    await write({ serverCertificate: missing });
    await assert.rejects(() => readOpcuaConfig(path), {
      message: `${path}: servers[0].serverCertificate: cannot read "${missing}" (no such file)`,
    });
    await write({ serverCertificate: join(dir, "pass") });
    await assert.rejects(() => readOpcuaConfig(path), {
      message: `${path}: servers[0].serverCertificate: "${
        join(dir, "pass")
      }": not a PEM or DER certificate`,
    });
    await Deno.writeTextFile(join(dir, "empty"), "\n");
    await write({
      serverCertificate: pki.opcuaCert,
      user: "vigia",
      passwordFile: join(dir, "empty"),
    });
    await assert.rejects(() => readOpcuaConfig(path), {
      message: `${path}: servers[0].passwordFile: "${join(dir, "empty")}": empty`,
    });
    await assert.rejects(() => readOpcuaConfig(join(dir, "absent.json")), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
