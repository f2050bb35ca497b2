/**
 * consumer:elasticsearch entrypoint (placeholder). The sink is not built yet; once it is, this file becomes:
 *   await runConsumer({ name: 'elasticsearch', createSink: (config, logger) => new ...Sink(...) });
 */
process.stderr.write('consumer:elasticsearch is not implemented yet (see the issue tracker)\n');
process.exit(1);
