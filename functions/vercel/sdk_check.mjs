// Only for tests/test_vercel_blob_sdk.py: the real @vercel/blob SDK (pinned in package.json)
// run against the loopback fake of the Blob API, so the fake's requests can be compared with
// the SDK's. VERCEL_BLOB_API_URL points the API calls at the fake; get() builds its URL on
// <store>.private.blob.vercel-storage.com, so a dispatcher sends those to the fake's origin
// (recording the host the SDK asked for). Prints one JSON line of outcomes.
import { Agent, setGlobalDispatcher } from 'undici';
import { put, get, head, BlobPreconditionFailedError } from '@vercel/blob';

const fakeOrigin = process.env.FAKE_ORIGIN;
const pathname = process.env.BLOB_PATHNAME;
const hosts = [];

class ToFake extends Agent {
  dispatch(opts, handler) {
    const origin = new URL(String(opts.origin));
    if (origin.hostname.endsWith('.blob.vercel-storage.com')) {
      hosts.push(origin.host);
      return super.dispatch({ ...opts, origin: fakeOrigin }, handler);
    }
    return super.dispatch(opts, handler);
  }
}
setGlobalDispatcher(new ToFake());

const common = { access: 'private', contentType: 'application/octet-stream', addRandomSuffix: false };
const outcome = async (fn) => {
  try {
    return { ok: await fn() };
  } catch (error) {
    return { error: error.constructor.name, message: String(error.message) };
  }
};

const created = await put(pathname, Buffer.from('one'), { ...common, allowOverwrite: false });
const replaced = await put(pathname, Buffer.from('two'), { ...common, ifMatch: created.etag });
const stale = await outcome(() => put(pathname, Buffer.from('x'), { ...common, ifMatch: created.etag }));
const again = await outcome(() => put(pathname, Buffer.from('y'), { ...common, allowOverwrite: false }));
const read = await get(pathname, { access: 'private', useCache: false });
const body = Buffer.from(await new Response(read.stream).arrayBuffer()).toString();
const meta = await head(pathname);
console.log(JSON.stringify({
  created: created.etag, replaced: replaced.etag, stale, again,
  read: { body, etag: read.blob.etag }, head: meta.etag, hosts,
  preconditionClass: BlobPreconditionFailedError.name,
}));
