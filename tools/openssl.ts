/**
 * The file and `openssl` helpers of `deno task certs`: running the
 * `openssl` CLI, making the CA and leaf keys and certificates, writing each
 * atomically with its mode, and existence checks that tell "missing" from
 * any other failure.
 *
 * @module
 */

const CA_DAYS = 3650;
/** Validity of a leaf certificate (gateway, server, sensor), in days. */
export const LEAF_DAYS = 1825;

/** Runs `openssl` with `args` and returns its stdout; throws with the first line of its stderr. */
export async function openssl(args: readonly string[]): Promise<string> {
  const output = await new Deno.Command("openssl", { args: [...args], stdin: "null" }).output();
  if (!output.success) {
    const detail = new TextDecoder().decode(output.stderr).trim().split("\n")[0];
    throw new Error(`openssl ${args[0]} failed: ${detail}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** Throws a plain message when the `openssl` command is not installed. */
export async function assertOpenssl(): Promise<void> {
  try {
    await new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("Cannot create certificates: the openssl command is not installed");
    }
    throw error;
  }
}

/** Writes via a temporary file and a rename, so a reader never sees half a key or a wrong mode. */
export async function writeAtomically(path: string, data: string, mode: number): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, data, { mode, createNew: true });
    await Deno.chmod(temporary, mode); // the umask may have narrowed it; never widened
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** Whether `path` exists (a dangling link counts); other errors are thrown. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    ignoreNotFound(error);
    return false;
  }
}

/** Rethrows anything but `NotFound`. */
export function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}

/** The CA that signs: its certificate and key files. */
export interface Signer {
  readonly cert: string;
  readonly key: string;
}

/** Subject and extensions of a leaf certificate. */
export interface LeafOptions {
  readonly subject: string;
  readonly extensions: readonly string[];
}

/** Creates the CA (ECDSA P-256, self-signed, 10 years). */
export async function createCa(certPath: string, keyPath: string): Promise<void> {
  const pem = await openssl([
    ...NEW_KEY_ARGS,
    "-subj",
    "/CN=Vigia plant CA",
    "-days",
    String(CA_DAYS),
    "-addext",
    "basicConstraints=critical,CA:TRUE,pathlen:0",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await writeKeyAndCert(pem, certPath, keyPath);
}

/** Creates a key and a certificate signed by `signer` (5 years). */
export async function createLeaf(
  signer: Signer,
  certPath: string,
  keyPath: string,
  options: LeafOptions,
): Promise<void> {
  const pem = await openssl([
    ...NEW_KEY_ARGS,
    "-CA",
    signer.cert,
    "-CAkey",
    signer.key,
    "-subj",
    options.subject,
    "-days",
    String(LEAF_DAYS),
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "keyUsage=critical,digitalSignature",
    ...options.extensions.flatMap((extension) => ["-addext", extension]),
  ]);
  await writeKeyAndCert(pem, certPath, keyPath);
}

/**
 * Creates the gateway's OPC UA application instance certificate:
 * self-signed RSA 2048 (OPC UA's trust lists name the certificate itself,
 * and its security policies are defined for RSA keys only), the
 * application URI in the subject alternative name (5 years).
 */
export async function createOpcuaApplication(
  certPath: string,
  keyPath: string,
  applicationUri: string,
): Promise<void> {
  const pem = await openssl([
    ...newKeyArgs(["rsa:2048"]),
    "-subj",
    "/CN=vigia-gateway/O=Vigia",
    "-days",
    String(LEAF_DAYS),
    "-addext",
    `subjectAltName=URI:${applicationUri},DNS:localhost`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment,keyCertSign",
    "-addext",
    "extendedKeyUsage=clientAuth,serverAuth",
  ]);
  await writeKeyAndCert(pem, certPath, keyPath);
}

// One openssl process makes the key and the certificate and prints both on
// stdout, so the key never touches disk with a mode we did not choose.
const NEW_KEY_ARGS = newKeyArgs(["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);

function newKeyArgs(key: readonly string[]): string[] {
  return [
    "req",
    "-x509",
    "-new",
    "-newkey",
    ...key,
    "-sha256",
    "-noenc",
    "-keyout",
    "-",
    "-out",
    "-",
  ];
}

async function writeKeyAndCert(pem: string, certPath: string, keyPath: string): Promise<void> {
  const key = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----\n/.exec(pem)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/.exec(pem)?.[0];
  if (!key || !cert) throw new Error(`openssl printed no key and certificate for ${certPath}`);
  await writeAtomically(keyPath, key, 0o600);
  await writeAtomically(certPath, cert, 0o644);
}

/** `DNS:a,IP:b` for openssl, each name once. */
export function subjectAltNames(names: readonly string[]): string {
  const isIp = (name: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
  return [...new Set(names)].map((name) => `${isIp(name) ? "IP" : "DNS"}:${name}`).join(",");
}

/** Throws naming `what` when the CA key is missing. */
export async function requireCaKey(caKey: string, what: string): Promise<void> {
  if (!(await exists(caKey))) {
    throw new Error(`Cannot sign ${what}: the CA key ${caKey} is missing`);
  }
}
