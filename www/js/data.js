// Downloads the MNIST data set (four gzipped IDX files) with a progress report, and
// keeps the test split in JS for the galleries.

const FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];
/** The four files' compressed size, for the progress bar until every server answer is in. */
const EXPECTED_BYTES = 11_369_320;

/**
 * Resolves to the four decompressed files, in load_data's order. `onProgress(received,
 * total)` reports compressed bytes. Decompressing waits for `unpackAfter`: inflating 47 MB
 * runs on the page's thread (DecompressionStream), and on a cold load it held the first
 * prediction back by 100-400 ms (the model's install waited behind it).
 */
export async function downloadMnist(onProgress, unpackAfter = Promise.resolve()) {
  const parts = FILES.map(() => ({ received: 0, total: 0 }));
  const report = () => {
    const received = parts.reduce((s, p) => s + p.received, 0);
    const known = parts.every((p) => p.total > 0);
    const total = known ? parts.reduce((s, p) => s + p.total, 0) : EXPECTED_BYTES;
    onProgress(Math.min(received, total), total);
  };
  const files = await Promise.all(FILES.map((name, i) => fetchWithProgress(`data/${name}.gz`, (received, total) => {
    parts[i] = { received, total };
    report();
  })));
  await unpackAfter;
  return Promise.all(files.map(gunzip));
}

async function fetchWithProgress(url, onProgress) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not download ${url} (HTTP ${res.status})`);
  const total = Number(res.headers.get("content-length")) || 0;
  const reader = res.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(received, Math.max(total, received));
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/** Decompresses gzip; passes through bytes a server already decoded (Content-Encoding). */
async function gunzip(bytes) {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The test split's images and labels, without their IDX headers. */
export class TestSet {
  constructor(imageFile, labelFile) {
    this.images = imageFile.subarray(16);
    this.labels = labelFile.subarray(8);
    this.size = this.labels.length;
  }
  /** Image i as 784 bytes (0 = paper, 255 = ink). */
  image(i) {
    return this.images.subarray(i * 784, (i + 1) * 784);
  }
}
