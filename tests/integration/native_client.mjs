// native_client.mjs - a native-messaging client for the integration tests: starts the
// server as a browser would (stdin/stdout pipes, 32-bit native-endian length + UTF-8
// JSON frames), sends one request frame, and prints every frame that comes back as one
// JSON line on stdout until the reply (a frame with the request's messageId and no
// event "type"), then closes stdin and waits for the server to exit.
//   node native_client.mjs REQUEST_JSON SERVER_BIN [SERVER_ARGS...]
import { spawn } from 'node:child_process';

const [request, bin, ...args] = process.argv.slice(2);
const req = JSON.parse(request);
const child = spawn(bin, ['--mode', 'native', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
const body = Buffer.from(JSON.stringify(req), 'utf8');
const head = Buffer.alloc(4);
head.writeUInt32LE(body.length); // native byte order (x86 and ARM Linux: little-endian)
child.stdin.write(Buffer.concat([head, body]));

let buf = Buffer.alloc(0);
let done = false;
const timer = setTimeout(() => {
  console.error('native_client: no reply within 120 s');
  child.kill('SIGKILL');
  process.exit(2);
}, 120000);
child.stdout.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  while (buf.length >= 4) {
    const n = buf.readUInt32LE(0);
    if (buf.length < 4 + n) break;
    const frame = JSON.parse(buf.subarray(4, 4 + n).toString('utf8'));
    buf = buf.subarray(4 + n);
    console.log(JSON.stringify(frame));
    if (!done && frame.messageId === req.messageId && frame.type === undefined) {
      done = true;
      child.stdin.end();
    }
  }
});
child.on('exit', (code) => {
  clearTimeout(timer);
  process.exit(done ? 0 : 1);
});
