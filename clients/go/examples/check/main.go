// Command check asks a maytrain sidecar about one record (Check) and about a batch
// (CheckBatch), and prints each decision on a line of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	maytrainv1 "github.com/maytrain/maytrain/clients/go/maytrain/v1"
)

func main() {
	target := flag.String("target", envOr("MAYTRAIN_TARGET", "127.0.0.1:50051"), "the sidecar's address")
	flag.Parse()
	// The sidecar listens on loopback or a unix socket beside the worker: no TLS here.
	// (grpc.WithInsecure is what grpc-go v1.33 has; newer versions also offer
	// grpc.WithTransportCredentials(insecure.NewCredentials()).)
	conn, err := grpc.Dial(*target, grpc.WithInsecure())
	if err != nil {
		log.Fatalf("dial %s: %v", *target, err)
	}
	defer conn.Close()
	client := maytrainv1.NewConsentCheckServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := checkOne(ctx, client); err != nil {
		log.Fatalf("Check: %v", err)
	}
	if err := checkBatch(ctx, client); err != nil {
		log.Fatalf("CheckBatch: %v", err)
	}
}

// checkOne decides one record with Check.
func checkOne(ctx context.Context, client maytrainv1.ConsentCheckServiceClient) error {
	record := telemetry("one", "sample-terms")
	record.Purpose = "ai.training"
	response, err := client.Check(ctx, &maytrainv1.CheckRequest{Record: record})
	if err != nil {
		return err
	}
	printDecision("Check", response.GetDecision(), response.GetConsentVersion())
	return nil
}

// checkBatch decides two records in one CheckBatch call, both for the request's default purpose.
func checkBatch(ctx context.Context, client maytrainv1.ConsentCheckServiceClient) error {
	billing := telemetry("billing", "sample-terms")
	billing.DataCategory = "account_data.billing"
	request := &maytrainv1.CheckBatchRequest{
		Records:        []*maytrainv1.Record{telemetry("opted-out", "sample-opted-out"), billing},
		DefaultPurpose: "ai.training",
	}
	response, err := client.CheckBatch(ctx, request)
	if err != nil {
		return err
	}
	for _, decision := range response.GetDecisions() {
		printDecision("CheckBatch", decision, response.GetConsentVersion())
	}
	return nil
}

// telemetry returns a telemetry record of the account, collected on 2025-03-01.
func telemetry(id, account string) *maytrainv1.Record {
	return &maytrainv1.Record{
		RecordId:     id,
		AccountId:    account,
		DataCategory: "service_generated.telemetry",
		CollectedAt:  timestamppb.New(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)),
	}
}

func printDecision(call string, decision *maytrainv1.Decision, consentVersion uint64) {
	fmt.Printf("%s %s %s %s consent_version=%d\n", call, decision.GetRecordId(),
		decision.GetVerdict(), decision.GetReason(), consentVersion)
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
