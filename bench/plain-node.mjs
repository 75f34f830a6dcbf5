// Baseline process for the parked-runs benchmark: Node and nothing else (the floor under any worker's RSS).
process.send({ type: 'ready', pid: process.pid });
process.on('message', (m) => {
  if (m?.type === 'stop') process.disconnect();
});
