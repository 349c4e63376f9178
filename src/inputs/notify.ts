import { NOTIFY_ON, NotifyUrlError, notifyTarget, type NotifySettings } from '../report/notify.js';
import { InputError, type InputReader } from './reader.js';

/** Reads `notify` and `notify-on`: each line a URL whose kind is known, refused (never quoted: it holds a token) before anything connects. */
export function readNotify(reader: InputReader): NotifySettings {
  const lines = reader.lines('notify');
  const on = reader.oneOf('notify-on', NOTIFY_ON);
  const targets = lines.map((line, i) => {
    try {
      return notifyTarget(line);
    } catch (err) {
      if (err instanceof NotifyUrlError) throw new InputError('notify', `line ${i + 1} ${err.message}`);
      throw err;
    }
  });
  return { targets, on };
}
