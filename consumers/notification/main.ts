/**
 * consumer:notification entrypoint (placeholder). The sink is not built yet; once it is, this file becomes:
 *   await runConsumer({ name: 'notification', createSink: (config, logger) => new ...Sink(...) });
 */
process.stderr.write('consumer:notification is not implemented yet (see the issue tracker)\n');
process.exit(1);
