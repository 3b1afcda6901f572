/** Connection states (the names of both references). */
export const SessionState = {
  CONNECTING: 'CONNECTING',
  HELLO_SENT: 'HELLO_SENT',
  HELLO_RECEIVED: 'HELLO_RECEIVED',
  ESTABLISHED: 'ESTABLISHED',
  RETRY: 'RETRY',
  CLOSED: 'CLOSED',
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

export type SessionRole = 'client' | 'server';
