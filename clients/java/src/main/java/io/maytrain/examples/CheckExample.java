package io.maytrain.examples;

// Named imports, not io.maytrain.v1.*: the contract's message Record would clash with
// java.lang.Record (Java 16+), which every file imports implicitly. See README.md.
import com.google.protobuf.Timestamp;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.maytrain.v1.CheckBatchRequest;
import io.maytrain.v1.CheckBatchResponse;
import io.maytrain.v1.CheckRequest;
import io.maytrain.v1.CheckResponse;
import io.maytrain.v1.ConsentCheckServiceGrpc;
import io.maytrain.v1.ConsentCheckServiceGrpc.ConsentCheckServiceBlockingStub;
import io.maytrain.v1.Decision;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/** CheckExample asks a maytrain sidecar about one record (Check) and a batch (CheckBatch). */
public final class CheckExample {
  private static final Instant COLLECTED_AT = Instant.parse("2025-03-01T00:00:00Z");

  private CheckExample() {}

  public static void main(String[] args) throws InterruptedException {
    String target = args.length > 0 ? args[0] : envOr("MAYTRAIN_TARGET", "127.0.0.1:50051");
    // The sidecar listens on loopback or a unix socket beside the worker: no TLS here.
    ManagedChannel channel = ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    try {
      ConsentCheckServiceBlockingStub stub =
          ConsentCheckServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
      checkOne(stub);
      checkBatch(stub);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** checkOne decides one record with Check. */
  private static void checkOne(ConsentCheckServiceBlockingStub stub) {
    io.maytrain.v1.Record record = telemetry("one", "sample-terms").setPurpose("ai.training").build();
    CheckResponse response = stub.check(CheckRequest.newBuilder().setRecord(record).build());
    print("Check", response.getDecision(), response.getConsentVersion());
  }

  /** checkBatch decides two records in one call, both for the request's default purpose. */
  private static void checkBatch(ConsentCheckServiceBlockingStub stub) {
    CheckBatchRequest request = CheckBatchRequest.newBuilder()
        .addRecords(telemetry("opted-out", "sample-opted-out"))
        .addRecords(telemetry("billing", "sample-terms").setDataCategory("account_data.billing"))
        .setDefaultPurpose("ai.training")
        .build();
    CheckBatchResponse response = stub.checkBatch(request);
    for (Decision decision : response.getDecisionsList()) {
      print("CheckBatch", decision, response.getConsentVersion());
    }
  }

  /** telemetry starts a telemetry record of the account, collected on 2025-03-01. */
  private static io.maytrain.v1.Record.Builder telemetry(String id, String account) {
    Timestamp collectedAt = Timestamp.newBuilder().setSeconds(COLLECTED_AT.getEpochSecond()).build();
    return io.maytrain.v1.Record.newBuilder()
        .setRecordId(id)
        .setAccountId(account)
        .setDataCategory("service_generated.telemetry")
        .setCollectedAt(collectedAt);
  }

  private static void print(String call, Decision decision, long consentVersion) {
    System.out.printf("%s %s %s %s consent_version=%d%n", call, decision.getRecordId(),
        decision.getVerdict(), decision.getReason(), consentVersion);
  }

  private static String envOr(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? fallback : value;
  }
}
