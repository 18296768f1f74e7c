// The extension policy at each operation, as the Python agent's develop branch (after 2.15) applies it in
// ExtHandlersHandler.handle_enable / handle_uninstall with ExtensionPolicyEngine.check_extension_policy:
//
//   operation                          checked                    "signed" means
//   enable, handler not installed      allow list, signature      the goal state carries an encodedSignature
//   enable, handler installed          allow list, signature      the installed package was validated
//   uninstall, handler installed       allow list, signature      the installed package was validated
//   uninstall, handler not installed   nothing (no code of the extension runs; its directory is removed)
//   disable (legacy handler state)     nothing
//
// A refusal is an AgentError of subkind 'disallowed' carrying the terminal code of the requested operation
// (upstream's _EXT_DISALLOWED_ERROR_MAP) and upstream's message; the processor reports it as the handler's status.
import { AgentError } from '../../util/errors.ts';
import { OPERATIONS } from '../handler-operations.ts';
import type { ExtensionPolicy } from '../policy.ts';

/**
 * Upstream's _EXT_DISALLOWED_ERROR_MAP: the operation named in the message and the terminal code CRP knows, by the
 * handler's requested state (uninstall has no code of its own: disable's; "disable" is surfaced as "uninstall").
 */
export function disallowedOperation(state: string): { operation: 'run' | 'uninstall'; code: number } {
  return state === 'enabled'
    ? { operation: 'run', code: OPERATIONS.enable.errorCode }
    : { operation: 'uninstall', code: OPERATIONS.disable.errorCode };
}

function disallowed(message: string, code: number): AgentError {
  return new AgentError('extension', message, { code }, undefined, 'disallowed');
}

/** Upstream's message for an ExtensionDisallowedError (not on the allow list). */
export function notAllowedMessage(name: string, operation: 'run' | 'uninstall', policyFile: string): string {
  return (
    `Extension will not be processed: failed to ${operation} extension '${name}' because it is not specified as an allowed extension. ` +
    `To ${operation}, add the extension to the list of allowed extensions in the policy file ('${policyFile}').`
  );
}

/** Upstream's message for an ExtensionSignaturePolicyError (the policy requires a signature the handler lacks). */
export function unsignedMessage(name: string, operation: 'run' | 'uninstall', policyFile: string): string {
  return (
    `Extension will not be processed: failed to ${operation} extension '${name}' because policy specifies that extension must be signed, ` +
    `but extension package signature could not be found. To ${operation}, set 'signatureRequired' to false in the policy file ('${policyFile}').`
  );
}

/**
 * Upstream's check_extension_policy for the handler `name` whose requested state is `state`: throws the disallowed
 * error when the policy does not allow it, or requires a signature and `signed` is false. No-op without a policy.
 */
export function checkExtensionPolicy(policy: ExtensionPolicy, name: string, state: string, signed: boolean, policyFile: string): void {
  if (!policy.enforced) return;
  const { operation, code } = disallowedOperation(state);
  if (!policy.allows(name)) throw disallowed(notAllowedMessage(name, operation, policyFile), code);
  if (policy.requiresSignature(name) && !signed) throw disallowed(unsignedMessage(name, operation, policyFile), code);
}
