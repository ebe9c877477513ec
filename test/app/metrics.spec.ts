import { expect } from 'chai';
import { client, registerUser, startTestBackend, type TestBackend } from '../support/testBackend.ts';

describe('GET /metrics', function () {
  this.timeout(30_000);
  let backend: TestBackend;
  before(async () => {
    backend = await startTestBackend();
  });
  after(async () => {
    await backend.close();
  });

  it('answers Prometheus text with request timings, projection checkpoints and the log head, without a token', async () => {
    const api = client(backend.url);
    const user = await registerUser(api);
    const group = await user.api.post('/api/chat/mychats/groups/', { name: 'measured' });
    expect(await backend.progress.reached(BigInt(group.body.position), 5000)).to.equal(true);
    const reply = await fetch(`${backend.url}/metrics`);
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.match(/^text\/plain/);
    const text = await reply.text();
    expect(text).to.match(/chat_http_request_duration_seconds_count\{method="POST",route="\/api\/rest-auth\/registration\/",status="201"\} 1/);
    const head = await backend.eventStore.headPosition();
    expect(text).to.include(`chat_event_store_head_position ${Number(head)}`);
    for (const projection of ['users', 'social', 'chats', 'messages']) expect(text).to.include(`chat_projection_checkpoint{projection="${projection}"} ${Number(head)}`);
    expect(text).to.match(/chat_projection_lag_seconds\{projection="messages"\} 0/);
  });
});
