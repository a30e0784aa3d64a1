import assert from "node:assert/strict";
import { parseConfig, permissions } from "../query.ts";
import { UsageError } from "../lib/cli.ts";
import { deadbandOf, DEFAULT_THRESHOLDS, parseThresholds } from "../lib/thresholds.ts";

Deno.test("parseConfig() of query uses the documented defaults", () => {
  const config = parseConfig([]);
  assert.equal(config.server.href, "http://127.0.0.1:8080/");
  assert.equal(config.intervalMs, 10_000);
  assert.equal(config.once, false);
  assert.equal(config.json, false);
  assert.equal(config.thresholds, undefined);
  assert.equal(config.staleMs, 60_000);
  assert.equal(config.logJson, false);
  assert.equal(config.debug, false);
});

Deno.test("parseConfig() of query takes every flag, fractions of seconds included", () => {
  const config = parseConfig([
    "--server",
    "http://localhost:9000/",
    "--interval",
    "0.2",
    "--once",
    "--json",
    "--thresholds",
    "ranges.json",
    "--stale",
    "0",
    "--log-json",
    "--debug",
  ]);
  assert.equal(config.server.href, "http://localhost:9000/");
  assert.equal(config.intervalMs, 200);
  assert.equal(config.once, true);
  assert.equal(config.json, true);
  assert.equal(config.thresholds, "ranges.json");
  assert.equal(config.staleMs, 0);
  assert.equal(config.logJson, true);
  assert.equal(config.debug, true);
});

Deno.test("parseConfig() of query rejects bad flags with the value quoted", () => {
  const cases: [string[], RegExp][] = [
    [["--interval", "0"], /--interval: expected 0.01-86400, got "0"/],
    [["--interval", "soon"], /--interval: expected a number, got "soon"/],
    [["--stale=-1"], /--stale: expected 0-2592000, got "-1"/],
    [["--stale", "-1"], /'--stale' argument is ambiguous\. .* use '--stale=-XYZ'/],
    [["--server", "127.0.0.1:8080"], /--server: expected a URL like http:\/\/127\.0\.0\.1:8080/],
    [["--server", "ftp://host"], /--server: expected http:\/\/ or https:\/\/, got "ftp:\/\/host"/],
    [["--thresholds", ""], /--thresholds: expected a file/],
    [["--verbose"], /Cannot parse flags/],
    [["extra"], /Cannot parse flags/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseConfig(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("permissions() asks for the server's host and port, the thresholds, CA and token files", () => {
  assert.deepEqual(permissions(parseConfig([])), [
    { kind: "net", host: "127.0.0.1:8080", flag: "server" },
  ]);
  assert.deepEqual(
    permissions(parseConfig(["--server", "https://[::1]", "--thresholds", "t.json"])),
    [
      { kind: "net", host: "[::1]:443", flag: "server" },
      { kind: "read", path: "t.json", flag: "thresholds" },
      { kind: "read", path: "certs/ca.crt", flag: "ca" },
    ],
  );
  assert.deepEqual(
    permissions(parseConfig(["--ca", "/etc/vigia/ca.crt", "--token-file", "read.token"])),
    [
      { kind: "net", host: "127.0.0.1:8080", flag: "server" },
      { kind: "read", path: "read.token", flag: "token-file" },
    ],
    "the CA is read only for an https:// server",
  );
});

Deno.test("parseThresholds() accepts a deadband and deadbandOf() defaults to 1 % of the width", () => {
  const thresholds = parseThresholds({ pressure: { min: 900, max: 1100, deadband: 2.5 } });
  assert.equal(thresholds.pressure.deadband, 2.5);
  assert.equal(deadbandOf(thresholds.pressure), 2.5);
  assert.equal(deadbandOf(thresholds.temperature), 1.25);
  assert.equal(deadbandOf(DEFAULT_THRESHOLDS.pressure), 4);
  assert.equal(deadbandOf(DEFAULT_THRESHOLDS.humidity), 1);
  // Without a deadband in the file the served shape stays as documented.
  assert.deepEqual(parseThresholds({}), DEFAULT_THRESHOLDS);
  assert.equal(parseThresholds({ humidity: { deadband: 0 } }).humidity.deadband, 0);
});

Deno.test("parseThresholds() rejects a deadband that is negative, not a number, or too wide", () => {
  assert.throws(
    () => parseThresholds({ humidity: { deadband: "1" } }),
    new TypeError("thresholds.humidity.deadband: expected a finite number"),
  );
  assert.throws(() => parseThresholds({ humidity: { deadband: -1 } }), RangeError);
  assert.throws(
    () => parseThresholds({ humidity: { min: 0, max: 10, deadband: 5 } }),
    /thresholds\.humidity\.deadband: expected 0 or more and below half the range \(5\), got 5/,
  );
});
