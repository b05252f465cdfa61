package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/searchattr"
)

// ensureSearchAttributes registers whichever of infraflow's search attributes
// the namespace lacks; it is a no-op on a namespace that has them all. When
// the worker may not administer the namespace, the error says how an
// administrator creates them.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := registerSearchAttributes(ctx, c, namespace); err != nil {
		return fmt.Errorf("%w\ninfraflow's workflows need these search attributes; an administrator can create them with:\n  %s",
			err, strings.Join(searchattr.CreateCommands(namespace), "\n  "))
	}
	return nil
}

func registerSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes of namespace %q: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range searchattr.All() {
		existing, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case existing != typ:
			return fmt.Errorf("search attribute %s exists in namespace %q as %s, infraflow needs %s", name, namespace, existing, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("registering search attributes %v in namespace %q: %w", searchattr.Names(missing), namespace, err)
	}
	return nil
}
