// The baseline for the HTTP figures: the same express version with one bare route and nothing else.
import express from 'express';
const app = express();
app.get('/bare', (_req, res) => {
  res.type('text/plain').send('OK');
});
const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
