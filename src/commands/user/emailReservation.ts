import { event, type DomainEvent } from '../../events/catalog.ts';
import { refuse } from '../DomainError.ts';

/** An email's own stream: whoever reserves it first owns it, checked on the write side, not in a projection. */
export type EmailReservationEvent = DomainEvent<'EmailReserved' | 'EmailReleased'>;
export type EmailReservation = { owner: string | null };

export const initialState = (): EmailReservation => ({ owner: null });

export const evolve = (_state: EmailReservation, e: EmailReservationEvent): EmailReservation => ({
  owner: e.type === 'EmailReserved' ? e.data.user_id : null,
});

export function decide(command: { type: 'ReserveEmail' | 'ReleaseEmail'; userId: string }, state: EmailReservation): EmailReservationEvent[] {
  if (command.type === 'ReleaseEmail') return state.owner === command.userId ? [event('EmailReleased', { user_id: command.userId })] : [];
  if (state.owner === command.userId) return [];
  if (state.owner !== null) refuse('conflict', 'email_taken', 'A user with this email exists already.');
  return [event('EmailReserved', { user_id: command.userId })];
}
