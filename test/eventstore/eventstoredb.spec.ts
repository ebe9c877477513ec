import { createEventStoreDbEventStore } from '../../src/eventstore/eventstoredb/EventStoreDbEventStore.ts';
import { requireService } from '../support/services.ts';
import { eventStoreContract } from './eventStoreContract.ts';

// EventStoreDB cannot run on the build machines: this suite runs when EVENTSTORE_URL is set
describe('EventStoreDB event store: the contract', function () {
  let url: string;
  before(function () {
    url = requireService(this, 'eventstoredb');
  });
  eventStoreContract(() => ({ connect: () => createEventStoreDbEventStore(url) }));
});
