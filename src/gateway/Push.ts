/** What the gateway sends a client when the read models include an event (API.md, "Server → client"). */
export type PushEvent = 'new_message' | 'message_edited' | 'message_deleted' | 'chat_updated' | 'invitation';

export interface Push {
  event: PushEvent;
  /** the event's global position, as the command that appended it answered */
  position: string;
  payload: Record<string, unknown>;
  /** whose sockets hear it */
  users: string[];
}
