package datapath

import (
	"reflect"
	"slices"
	"testing"
)

// TestOptionsEqualComparesEveryField changes one field at a time, found by
// reflection, so that a field added to Options or to xsk.Config without
// being compared by Equal fails here rather than letting a reload keep the
// old datapath.
func TestOptionsEqualComparesEveryField(t *testing.T) {
	var fields int
	var vary func(path string, typ reflect.Type, index []int)
	vary = func(path string, typ reflect.Type, index []int) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, idx := path+f.Name, append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				vary(name+".", f.Type, idx)
				continue
			}
			fields++
			a, b := DefaultOptions(), DefaultOptions()
			if !change(reflect.ValueOf(&b).Elem().FieldByIndex(idx)) {
				t.Errorf("%s: cannot vary a %s; teach this test (and check Equal compares it)", name, f.Type)
				continue
			}
			if a.Equal(b) || b.Equal(a) {
				t.Errorf("options that differ only in %s compare equal: Equal does not compare it", name)
			}
		}
	}
	vary("", reflect.TypeFor[Options](), nil)
	if fields < 9 { // Queues, XDPMode, 4 of Socket, Batch, MaxWorkers, MaxPending
		t.Errorf("varied %d fields, want at least 9: the walk missed some", fields)
	}
}

// change sets v to another value of its type and reports whether it could.
func change(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), v.Len()+1, v.Len()+1)
		reflect.Copy(s, v)
		s.Index(v.Len()).Set(reflect.New(v.Type().Elem()).Elem())
		v.Set(s)
	default:
		return false
	}
	return true
}

func TestOptionsEqual(t *testing.T) {
	withQueues := func(qs []int) Options {
		o := DefaultOptions()
		o.Queues = qs
		return o
	}
	tests := []struct {
		name string
		a, b Options
		want bool
	}{
		{"defaults", DefaultOptions(), DefaultOptions(), true},
		{"same queues, other slices", withQueues([]int{0, 1, 3}), withQueues([]int{0, 1, 3}), true},
		{"empty queue list is all", withQueues([]int{}), withQueues(nil), true},
		{"queues vs all", withQueues([]int{0}), withQueues(nil), false},
		{"fewer queues", withQueues([]int{0, 1, 3}), withQueues([]int{0, 1}), false},
		{"other queue", withQueues([]int{0, 1}), withQueues([]int{0, 2}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Equal(tc.b); got != tc.want {
				t.Errorf("%+v.Equal(%+v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := tc.b.Equal(tc.a); got != tc.want {
				t.Errorf("%+v.Equal(%+v) = %v, want %v", tc.b, tc.a, got, tc.want)
			}
		})
	}
}
