module github.com/maytrain/maytrain/clients/go

go 1.19

// The lowest versions the stubs and the example are built and tested with (Debian 12's
// golang-google-grpc-dev and golang-google-protobuf-dev); a program that imports this
// module will usually require newer ones itself, and Go then takes those.
require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
