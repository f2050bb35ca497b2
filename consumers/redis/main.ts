/**
 * consumer:redis entrypoint (placeholder). The sink is not built yet; once it is, this file becomes:
 *   await runConsumer({ name: 'redis', createSink: (config, logger) => new ...Sink(...) });
 */
process.stderr.write('consumer:redis is not implemented yet (see the issue tracker)\n');
process.exit(1);
