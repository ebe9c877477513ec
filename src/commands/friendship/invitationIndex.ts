import { event, type DomainEvent } from '../../events/catalog.ts';

/** An invitation's own stream: which pair it belongs to, so it can be answered by its id alone. */
export type InvitationIndexEvent = DomainEvent<'InvitationFiled'>;
export type InvitationIndex = { from: string; to: string } | null;

export const initialState = (): InvitationIndex => null;

export const evolve = (_state: InvitationIndex, e: InvitationIndexEvent): InvitationIndex => ({ from: e.data.from, to: e.data.to });

export function decide(command: { type: 'FileInvitation'; from: string; to: string }, state: InvitationIndex): InvitationIndexEvent[] {
  return state ? [] : [event('InvitationFiled', { from: command.from, to: command.to })];
}
