package load

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// processor runs config.processor: a CommonJS module whose exported
// functions are Artillery hooks, in an embedded JavaScript engine. One
// runtime is shared by all virtual users, as a Node.js module is, and calls
// are serialised by a mutex. Hooks must finish synchronously: call done /
// next before returning, or return a promise that settles without timers.
type processor struct {
	mu      sync.Mutex
	rt      *goja.Runtime
	exports *goja.Object
	path    string
}

// loadProcessor loads the module at path. out receives console.log lines.
func loadProcessor(path string, out *console) (*processor, error) {
	rt := goja.New()
	rt.SetFieldNameMapper(goja.UncapFieldNameMapper())
	p := &processor{rt: rt, path: path}
	cons := rt.NewObject()
	logFn := func(call goja.FunctionCall) goja.Value {
		parts := make([]string, len(call.Arguments))
		for i, a := range call.Arguments {
			parts[i] = a.String()
		}
		out.line(strings.Join(parts, " "))
		return goja.Undefined()
	}
	for _, name := range []string{"log", "info", "warn", "error", "debug"} {
		_ = cons.Set(name, logFn)
	}
	_ = rt.Set("console", cons)
	cache := map[string]*goja.Object{}
	exports, err := p.require(path, cache)
	if err != nil {
		return nil, err
	}
	p.exports = exports
	return p, nil
}

// require loads a CommonJS module by path; relative requires inside it are
// resolved against its directory. Node's built-in modules are not available.
func (p *processor) require(path string, cache map[string]*goja.Object) (*goja.Object, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if m, ok := cache[abs]; ok {
		return m.Get("exports").ToObject(p.rt), nil
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		if !strings.HasSuffix(abs, ".js") {
			if src2, err2 := os.ReadFile(abs + ".js"); err2 == nil {
				src, err, abs = src2, nil, abs+".js"
			}
		}
		if err != nil {
			return nil, fmt.Errorf("read processor: %w", err)
		}
	}
	rt := p.rt
	module := rt.NewObject()
	exports := rt.NewObject()
	_ = module.Set("exports", exports)
	cache[abs] = module
	req := func(call goja.FunctionCall) goja.Value {
		name := call.Argument(0).String()
		if !strings.HasPrefix(name, "./") && !strings.HasPrefix(name, "../") {
			panic(rt.NewGoError(fmt.Errorf("require(%q): only relative modules are supported by sonde's processor engine", name)))
		}
		m, err := p.require(filepath.Join(filepath.Dir(abs), name), cache)
		if err != nil {
			panic(rt.NewGoError(err))
		}
		return m
	}
	wrapped := "(function (module, exports, require, __filename, __dirname) {" + string(src) + "\n})"
	fnVal, err := rt.RunScript(abs, wrapped)
	if err != nil {
		return nil, fmt.Errorf("load processor %s: %w", abs, err)
	}
	fn, ok := goja.AssertFunction(fnVal)
	if !ok {
		return nil, fmt.Errorf("load processor %s: not a function", abs)
	}
	if _, err := fn(goja.Undefined(), module, exports, rt.ToValue(req), rt.ToValue(abs), rt.ToValue(filepath.Dir(abs))); err != nil {
		return nil, fmt.Errorf("load processor %s: %w", abs, err)
	}
	return module.Get("exports").ToObject(rt), nil
}

func (p *processor) fn(name string) (goja.Callable, bool) {
	if p == nil {
		return nil, false
	}
	v := p.exports.Get(name)
	if v == nil {
		return nil, false
	}
	return goja.AssertFunction(v)
}

// has reports whether the module exports a function called name.
func (p *processor) has(name string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.fn(name)
	return ok
}

// events returns Artillery's events object: emit('counter'|'histogram'|
// 'rate', name, value) records custom metrics.
func (p *processor) events(r *runner) *goja.Object {
	ev := p.rt.NewObject()
	_ = ev.Set("emit", func(call goja.FunctionCall) goja.Value {
		kind := call.Argument(0).String()
		name := call.Argument(1).String()
		now := time.Now()
		switch kind {
		case "counter":
			n := int64(1)
			if v := call.Argument(2); !goja.IsUndefined(v) {
				n = v.ToInteger()
			}
			r.rec.Add(name, n, now)
		case "histogram", "summary":
			r.rec.Observe(name, call.Argument(2).ToFloat(), now)
		case "rate":
			r.rec.Rate(name, now)
		}
		return goja.Undefined()
	})
	_ = ev.Set("on", func(goja.FunctionCall) goja.Value { return goja.Undefined() })
	return ev
}

// call runs fn with args plus a trailing callback, and returns the error
// the function reported (callback argument, thrown exception or rejected
// promise) and the callback's second argument or the promise's value.
func (p *processor) call(name string, fn goja.Callable, args []goja.Value) (goja.Value, error) {
	rt := p.rt
	called := false
	var cbErr, cbVal goja.Value
	done := rt.ToValue(func(call goja.FunctionCall) goja.Value {
		called = true
		cbErr = call.Argument(0)
		cbVal = call.Argument(1)
		return goja.Undefined()
	})
	ret, err := fn(goja.Undefined(), append(args, done)...)
	if err != nil {
		return nil, &vuError{code: jsErrorText(err)}
	}
	if !called {
		if pr, ok := ret.Export().(*goja.Promise); ok {
			switch pr.State() {
			case goja.PromiseStateFulfilled:
				return pr.Result(), nil
			case goja.PromiseStateRejected:
				return nil, &vuError{code: jsValueError(pr.Result())}
			default:
				return nil, &vuError{code: fmt.Sprintf("processor function %s did not finish synchronously (timers are not supported)", name)}
			}
		}
		// A function that returned a value without calling back: take
		// the value (predicates such as ifTrue functions return it).
		return ret, nil
	}
	if cbErr != nil && !goja.IsUndefined(cbErr) && !goja.IsNull(cbErr) {
		return nil, &vuError{code: jsValueError(cbErr)}
	}
	return cbVal, nil
}

func jsErrorText(err error) string {
	if ex, ok := err.(*goja.Exception); ok {
		return jsValueError(ex.Value())
	}
	return err.Error()
}

// jsValueError names a JavaScript error as Artillery's errors.<...>
// counter: its code, else its message.
func jsValueError(v goja.Value) string {
	if o, ok := v.(*goja.Object); ok {
		if c := o.Get("code"); c != nil && !goja.IsUndefined(c) {
			return c.String()
		}
		if m := o.Get("message"); m != nil && !goja.IsUndefined(m) {
			return m.String()
		}
	}
	return v.String()
}

// contextObject builds Artillery's context argument around a copy of the
// virtual user's variables; syncVars copies changes back.
func (p *processor) contextObject(v *vu) (*goja.Object, map[string]any) {
	vars := v.vars.all()
	ctx := p.rt.NewObject()
	_ = ctx.Set("vars", vars)
	sc := p.rt.NewObject()
	_ = sc.Set("name", v.scenario.Name)
	_ = ctx.Set("scenario", sc)
	return ctx, vars
}

func syncVars(v *vu, vars map[string]any) {
	for k, x := range vars {
		switch k {
		case "$env", "$processEnvironment", "$uuid", "$loopElement", "$loopCount":
			continue
		}
		v.vars.set(k, x)
	}
	for k := range v.vars.own {
		if _, ok := vars[k]; !ok {
			delete(v.vars.own, k)
		}
	}
}

func (p *processor) missing(name string) error {
	return &vuError{code: fmt.Sprintf("processor function %s not found in %s", name, p.path)}
}

// callHook runs a (context, events, done) function: beforeScenario,
// afterScenario and function steps.
func (p *processor) callHook(name string, v *vu, r *runner) error {
	if p == nil {
		return &vuError{code: "processor function " + name + " called but config.processor is not set"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fn, ok := p.fn(name)
	if !ok {
		return p.missing(name)
	}
	ctx, vars := p.contextObject(v)
	_, err := p.call(name, fn, []goja.Value{ctx, p.events(r)})
	syncVars(v, vars)
	return err
}

// callPredicate runs a whileTrue/ifTrue function (context, next) and
// returns the boolean it passed to next or returned.
func (p *processor) callPredicate(name string, v *vu, r *runner) (bool, error) {
	if p == nil {
		return false, &vuError{code: "processor function " + name + " called but config.processor is not set"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fn, ok := p.fn(name)
	if !ok {
		return false, p.missing(name)
	}
	ctx, vars := p.contextObject(v)
	rt := p.rt
	var result goja.Value
	next := rt.ToValue(func(call goja.FunctionCall) goja.Value {
		result = call.Argument(0)
		return goja.Undefined()
	})
	ret, err := fn(goja.Undefined(), ctx, next)
	syncVars(v, vars)
	if err != nil {
		return false, &vuError{code: jsErrorText(err)}
	}
	if result == nil {
		result = ret
	}
	return result != nil && result.ToBoolean(), nil
}

// callRequestHook runs beforeRequest(requestParams, context, events, next).
// params is changed in place.
func (p *processor) callRequestHook(name string, params map[string]any, v *vu, r *runner) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn, ok := p.fn(name)
	if !ok {
		return p.missing(name)
	}
	ctx, vars := p.contextObject(v)
	_, err := p.call(name, fn, []goja.Value{p.rt.ToValue(params), ctx, p.events(r)})
	syncVars(v, vars)
	return err
}

// callResponseHook runs afterResponse(requestParams, response, context,
// events, next).
func (p *processor) callResponseHook(name string, params map[string]any, rc *responseCtx, v *vu, r *runner) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn, ok := p.fn(name)
	if !ok {
		return p.missing(name)
	}
	ctx, vars := p.contextObject(v)
	headers := map[string]any{}
	for k, vals := range rc.resp.Header {
		headers[strings.ToLower(k)] = strings.Join(vals, ", ")
	}
	resp := map[string]any{
		"statusCode": rc.resp.StatusCode,
		"headers":    headers,
		"body":       string(rc.body),
	}
	_, err := p.call(name, fn, []goja.Value{p.rt.ToValue(params), p.rt.ToValue(resp), ctx, p.events(r)})
	syncVars(v, vars)
	return err
}
