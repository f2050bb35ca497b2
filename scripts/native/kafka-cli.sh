#!/usr/bin/env bash
# Kafka's own command-line tools against the native stack's broker, from the jars the stack
# already fetched (the Docker stack has them inside kafka_broker as kafka-topics etc.).
#
#   scripts/native/kafka-cli.sh topics --list
#   scripts/native/kafka-cli.sh console-consumer --topic ecommerce.public.orders --from-beginning --max-messages 5
#   scripts/native/kafka-cli.sh consumer-groups --describe --group cdc-redis
#
# --bootstrap-server <the stack's broker, 127.0.0.1:9092 by default> is added unless you pass one.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK=${CDC_STACK_DIR:-$ROOT/.stack}
[[ -d $STACK/lib/kafka ]] || { echo "the native stack is not installed: run ./setup.sh --native" >&2; exit 1; }

tool=${1:-}; shift || true
case $tool in
  topics) main=org.apache.kafka.tools.TopicCommand ;;
  console-consumer) main=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  consumer-groups) main=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  *) echo "usage: $0 topics|console-consumer|consumer-groups [kafka tool options]" >&2; exit 2 ;;
esac
BROKER=127.0.0.1:9092
[[ -f $STACK/env ]] && BROKER=$(sed -n 's/^KAFKA_BROKERS=//p' "$STACK/env")
[[ " $* " == *" --bootstrap-server "* ]] || set -- --bootstrap-server "$BROKER" "$@"

cat >"${TMPDIR:-/tmp}/cdc-kafka-cli-log4j.properties" <<'LOG'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m%n
LOG
JAVA=${JAVA_HOME_17:-/usr/lib/jvm/java-17-openjdk-amd64}/bin/java
[[ -x $JAVA ]] || JAVA=java
exec "$JAVA" -Xmx256m -Dlog4j.configuration="file:${TMPDIR:-/tmp}/cdc-kafka-cli-log4j.properties" -cp "$STACK/lib/kafka/*" "$main" "$@"
