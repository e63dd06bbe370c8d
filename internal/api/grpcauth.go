package api

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sonde-dev/sonde/internal/config"
)

// GRPCAuth checks the "authorization: Bearer <token>" metadata of gRPC
// calls (OTLP/gRPC) the way auth checks HTTP requests: with no tokens
// configured every call passes; otherwise the token must grant scope.
func (s *Server) GRPCAuth(scope string) []grpc.ServerOption {
	if len(s.opts.Tokens) == 0 {
		return nil
	}
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		var secret string
		for _, v := range md.Get("authorization") {
			if b, ok := strings.CutPrefix(v, "Bearer "); ok {
				secret = strings.TrimSpace(b)
			}
		}
		for k, t := range s.opts.Tokens {
			if secret != "" && subtle.ConstantTimeCompare([]byte(k), []byte(secret)) == 1 {
				if slices.Contains(t.Scopes, scope) || slices.Contains(t.Scopes, config.ScopeAdmin) {
					return nil
				}
				return status.Errorf(codes.PermissionDenied, "token %q lacks the %s scope", t.Name, scope)
			}
		}
		return status.Error(codes.Unauthenticated, "missing or unknown token")
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}
