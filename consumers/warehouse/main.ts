/**
 * consumer:warehouse entrypoint (placeholder). The sink is not built yet; once it is, this file becomes:
 *   await runConsumer({ name: 'warehouse', createSink: (config, logger) => new ...Sink(...) });
 */
process.stderr.write('consumer:warehouse is not implemented yet (see the issue tracker)\n');
process.exit(1);
